variable "environment" {
  type        = string
  description = "Environment name: dev, staging or prod (tags, names, DNS)."
}

variable "region" {
  type        = string
  description = "AWS region; the only place a region enters (TF_VAR_region or -var, never a literal)."
}

variable "platform" {
  type        = string
  description = "Which cluster this environment runs on: eks or k3s. The one switch between them."

  validation {
    condition     = contains(["eks", "k3s"], var.platform)
    error_message = "platform must be eks or k3s."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "VPC CIDR (a /16), e.g. 10.30.0.0/16 for prod."
}

variable "az_count" {
  type        = number
  description = "Availability zones to use (at least 2)."
  default     = 3
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

variable "host" {
  type        = string
  description = "Public host name of the shop (the charts' ingress host), e.g. shop.example.com."
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
