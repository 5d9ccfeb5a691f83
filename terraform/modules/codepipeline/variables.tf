variable "name" {
  type        = string
  description = "Name prefix of the pipeline, its build project, bucket, key and roles, e.g. shopfloor-dev."
}

variable "account_id" {
  type        = string
  description = "Account of the ECR registry the build pushes to (the buildspec's AWS_ACCOUNT_ID)."
}

variable "region" {
  type        = string
  description = "Region of the build's log group (its key lets CloudWatch Logs there encrypt)."
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository the pipeline builds."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "Give the repository as owner/name."
  }
}

variable "branch" {
  type        = string
  description = "Branch whose pushes start the pipeline."
  default     = "main"
}

variable "buildspec" {
  type        = string
  description = "Path of the buildspec in the repository (the release of .github/workflows/release.yml)."
  default     = "ci/codebuild/buildspec.yml"
}

variable "ecr_namespace" {
  type        = string
  description = "Repositories are <namespace>/<service> (the buildspec's ECR_NAMESPACE)."
  default     = "shopfloor"
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "Repositories the build may push to."
}

variable "ecr_kms_key_arn" {
  type        = string
  description = "KMS key of the repositories."
}

variable "build_image" {
  type        = string
  description = "CodeBuild image (the buildspec's runtime-versions need standard 7.0)."
  default     = "aws/codebuild/standard:7.0"
}

variable "compute_type" {
  type        = string
  description = "CodeBuild compute type (image builds want at least MEDIUM)."
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "log_retention_days" {
  type        = number
  description = "Days build logs are kept."
  default     = 365
}

variable "artifact_expiry_days" {
  type        = number
  description = "Days pipeline artifacts (source snapshots) are kept."
  default     = 30
}
