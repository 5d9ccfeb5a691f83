variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name (product images uploaded through the catalog)."
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete a non-empty bucket (dev only)."
  default     = false
}

variable "noncurrent_version_expiry_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it expires."
  default     = 90
}
