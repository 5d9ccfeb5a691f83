variable "name_prefix" {
  type        = string
  description = "Role name prefix, e.g. shopfloor-prod."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the EKS cluster's IRSA OIDC provider (the eks module's oidc_provider_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[^/]+(/.+)?$", var.oidc_provider_arn))
    error_message = "Give the ARN of an IAM OIDC provider: arn:<partition>:iam::<account>:oidc-provider/<issuer host and path>."
  }
}

variable "namespace" {
  type        = string
  description = "Namespace of YACE's ServiceAccount."
  default     = "monitoring"
}

variable "service_account" {
  type        = string
  description = "Name of YACE's ServiceAccount (the chart's serviceAccount.name); only it may assume the role."
  default     = "yace"
}

variable "regions" {
  type        = list(string)
  description = "Regions whose CloudWatch metrics and resource tags YACE may read (its discovery jobs' regions)."

  validation {
    condition     = length(var.regions) > 0
    error_message = "Name at least one region."
  }
}
