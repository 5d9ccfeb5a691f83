variable "environment" {
  type        = string
  description = "Environment name: dev, staging or prod. Its cross-layer facts (platform, account, region, VPC, host, data stores) are read from environments/<environment>/infrastructure.yaml."
}

variable "single_nat_gateway" {
  type        = bool
  description = "Share one NAT gateway (cheaper, not zone-resilient)."
  default     = false
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to the Kubernetes API from outside the VPC (empty: private only)."
  default     = []
}

variable "k3s_oidc" {
  type = object({
    issuer_url      = string
    client_id       = string
    username_claim  = optional(string, "sub")
    username_prefix = optional(string, "oidc:")
    groups_claim    = optional(string, "groups")
    groups_prefix   = optional(string, "shopfloor:")
    required_claims = optional(map(string), {})
    extra_scopes    = optional(list(string), [])
  })
  description = "K3s only: the OpenID Connect issuer people log in with (terraform/modules/k3s `oidc`; null: the admin kubeconfig through SSM alone)."
  default     = null
}

variable "node_instance_types" {
  type        = list(string)
  description = "Worker instance types (K3s agents use the first)."
  default     = ["t3.large"]
}

variable "node_min_size" {
  type        = number
  description = "Minimum number of worker nodes."
  default     = 2
}

variable "node_max_size" {
  type        = number
  description = "Maximum number of worker nodes."
  default     = 4
}

variable "rds_instance_class" {
  type        = string
  description = "RDS instance class."
  default     = "db.t4g.medium"
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type."
  default     = "cache.t4g.small"
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the database and keep the uploads bucket on destroy (true in prod)."
  default     = true
}

variable "backup_retention_days" {
  type        = number
  description = "Days RDS backups are kept."
  default     = 7
}

variable "github_repository" {
  type        = string
  description = "owner/name of the repository whose workflows may push images and run plan."
}

variable "owns_account_resources" {
  type        = bool
  description = "This stack creates the account-wide resources: the GitHub OIDC provider and the ECR repositories every environment pulls from. Exactly one environment per account (dev) sets true and is applied first."
}

variable "state_bucket" {
  type        = string
  description = "Name of the Terraform state bucket (the same as -backend-config bucket=)."
}

variable "node_port_client_cidrs" {
  type        = list(string)
  description = "Networks besides the VPC that may reach the frontend NodePort on K3s nodes when infrastructure.yaml enables it (e.g. a VPN)."
  default     = []
}

variable "aws_pipeline_enabled" {
  type        = bool
  description = "Build the optional AWS-native release pipeline (CodePipeline + CodeBuild, FR-6.6). Only in the environment that owns the account-wide resources."
  default     = false

  validation {
    condition     = !var.aws_pipeline_enabled || var.owns_account_resources
    error_message = "The pipeline pushes to the account's ECR repositories: enable it in the environment with owns_account_resources = true."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch Logs keeps the pods' lines (terraform/modules/logs; a period CloudWatch accepts)."
  default     = 30
}

variable "chaos_fis_enabled" {
  type        = bool
  description = "Create the AWS FIS role, stop alarm and experiment templates of chaos/aws (terraform/modules/chaos-fis; docs/chaos.md). Opt-in; the templates target an EKS cluster and RDS, so it is created only where the contract says both (a check warns otherwise)."
  default     = false
}
