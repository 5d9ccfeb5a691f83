variable "name_prefix" {
  type        = string
  description = "Repository name prefix; repositories are <name_prefix>/<service>."
}

variable "services" {
  type        = list(string)
  description = "Services that get a repository."
  default     = ["frontend", "api-gateway", "catalog", "orders"]
}

variable "keep_images" {
  type        = number
  description = "How many images each repository keeps (older ones expire)."
  default     = 50
}

variable "untagged_expiry_days" {
  type        = number
  description = "Days after which untagged images expire."
  default     = 7
}
