variable "environment" {
  type        = string
  description = "Environment whose facts to read: environments/<environment>/infrastructure.yaml."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment is a short lower-case name such as dev, staging or prod."
  }
}

variable "partition" {
  type        = string
  description = "AWS partition of the ARNs the contract names (aws, aws-cn, aws-us-gov)."
  default     = "aws"
}
