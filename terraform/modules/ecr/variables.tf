variable "namespace" {
  type        = string
  description = "Repositories are <namespace>/<service>, as environments/*/<service>/image.yaml names them."
  default     = "shopfloor"
}

variable "create_repositories" {
  type        = bool
  description = "Create the repositories and their KMS key (one stack per account: dev); false looks them up."
}

variable "services" {
  type        = list(string)
  description = "Images that get a repository: each service's, and tools (the image the PostSync smoke Job runs)."
  default     = ["frontend", "api-gateway", "catalog", "orders", "tools"]
}

variable "keep_images" {
  type        = number
  description = "How many images each repository keeps; older ones expire, so keep more than dev builds between prod releases."
  default     = 500
}

variable "untagged_expiry_days" {
  type        = number
  description = "Days after which untagged images expire."
  default     = 7
}
