variable "name" {
  type        = string
  description = "The environment's name prefix, e.g. shopfloor-prod: the log group is /<name>/pods, the roles and key are named after it."
}

variable "retention_days" {
  type        = number
  description = "How long CloudWatch Logs keeps the pods' lines (one of the retention periods CloudWatch accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_days)
    error_message = "retention_days must be a CloudWatch Logs retention period (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "platform" {
  type        = string
  description = "eks: Fluent Bit gets an IRSA role; k3s: the policy is attached to node_role_name (no IRSA there)."

  validation {
    condition     = contains(["eks", "k3s"], var.platform)
    error_message = "platform must be eks or k3s."
  }
}

variable "oidc_provider_arn" {
  type        = string
  description = "EKS only: the cluster's IRSA OIDC provider (the eks module's oidc_provider_arn)."
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[^/]+(/.+)?$", var.oidc_provider_arn))
    error_message = "Give the ARN of an IAM OIDC provider: arn:<partition>:iam::<account>:oidc-provider/<issuer host and path>."
  }
}

variable "node_role_name" {
  type        = string
  description = "K3s only: the nodes' IAM role, which Fluent Bit's pods use (the k3s module's node role)."
  default     = null
}

variable "namespace" {
  type        = string
  description = "Namespace of Fluent Bit's ServiceAccount (argocd/addons: aws-for-fluent-bit)."
  default     = "kube-system"
}

variable "service_account" {
  type        = string
  description = "Name of Fluent Bit's ServiceAccount (the chart's serviceAccount.name); only it may assume the role."
  default     = "aws-for-fluent-bit"
}
