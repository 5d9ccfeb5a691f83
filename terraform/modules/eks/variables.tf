variable "name" {
  type        = string
  description = "Cluster name and prefix of its IAM roles, e.g. shopfloor-prod."
}

variable "kubernetes_version" {
  type        = string
  description = "EKS Kubernetes version."
  default     = "1.31"
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cluster."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the control plane ENIs and the nodes."
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to the public API endpoint; empty keeps the endpoint private."
  default     = []
}

variable "node_instance_types" {
  type        = list(string)
  description = "Instance types of the managed node group."
  default     = ["t3.large"]
}

variable "node_min_size" {
  type        = number
  description = "Minimum (and initial) number of nodes."
  default     = 2
}

variable "node_max_size" {
  type        = number
  description = "Maximum number of nodes (cluster-autoscaler's ceiling)."
  default     = 6
}

variable "log_retention_days" {
  type        = number
  description = "Days control-plane logs are kept."
  default     = 365
}

variable "service_accounts" {
  type = map(object({
    namespace       = string
    service_account = string
    policy_arns     = list(string)
  }))
  description = "IRSA roles to create, keyed by role suffix (role name <name>-<key>), e.g. catalog."
  default     = {}
}
