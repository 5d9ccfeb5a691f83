variable "name_prefix" {
  type        = string
  description = "Role name prefix, e.g. shopfloor-prod."
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository whose workflows may assume the roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "Give the repository as owner/name, without wildcards."
  }
}

variable "create_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (false when another environment in the same account did)."
  default     = true
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "Repositories the push role may push to."
}

variable "ecr_kms_key_arn" {
  type        = string
  description = "KMS key of the repositories."
}

variable "state_bucket_arn" {
  type        = string
  description = "ARN of the Terraform state bucket (plan reads it and takes its lock file)."
}
