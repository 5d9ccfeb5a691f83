variable "name" {
  type        = string
  description = "Name prefix of the VPC and everything in it, e.g. shopfloor-prod."
}

variable "cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC; the subnets lie inside it."
}

variable "subnets" {
  type = object({
    public   = list(string)
    private  = list(string)
    database = list(string)
  })
  description = "Subnet CIDRs per tier, one per availability zone in zone order (the contract's subnets output)."

  validation {
    condition     = length(var.subnets.public) >= 2 && length(var.subnets.private) == length(var.subnets.public) && length(var.subnets.database) == length(var.subnets.public)
    error_message = "Multi-AZ RDS and ElastiCache need at least two zones, and every tier needs one subnet per zone."
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
