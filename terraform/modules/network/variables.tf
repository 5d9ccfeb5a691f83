variable "name" {
  type        = string
  description = "Name prefix of the VPC and everything in it, e.g. shopfloor-prod."
}

variable "cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC (a /16: subnets are carved from it)."
}

variable "az_count" {
  type        = number
  description = "How many availability zones to spread subnets over (at least 2)."
  default     = 3

  validation {
    condition     = var.az_count >= 2
    error_message = "Multi-AZ RDS and ElastiCache need at least two availability zones."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway instead of one per AZ (cheaper, not zone-resilient)."
  default     = false
}

variable "flow_log_retention_days" {
  type        = number
  description = "Days VPC flow logs are kept in CloudWatch Logs."
  default     = 365
}

variable "internal_zone_name" {
  type        = string
  description = "Private Route 53 zone for the data stores' DNS names, e.g. prod.shopfloor.internal."
}
