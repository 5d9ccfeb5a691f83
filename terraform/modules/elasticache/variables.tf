variable "name" {
  type        = string
  description = "Replication group id and name prefix, e.g. shopfloor-prod."
}

variable "vpc_id" {
  type        = string
  description = "VPC the cache lives in."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets in at least two AZs."
}

variable "cluster_security_group_id" {
  type        = string
  description = "Security group of the cluster nodes: the only source allowed to connect."
}

variable "port" {
  type        = number
  description = "Redis port (the contract's data_stores.redis.port)."
  default     = 6379
}

variable "engine_version" {
  type        = string
  description = "Redis engine version."
  default     = "7.1"
}

variable "node_type" {
  type        = string
  description = "Cache node type."
  default     = "cache.t4g.small"
}

variable "replicas" {
  type        = number
  description = "Read replicas besides the primary (at least 1 for automatic failover)."
  default     = 1

  validation {
    condition     = var.replicas >= 1
    error_message = "Multi-AZ automatic failover needs at least one replica."
  }
}

variable "snapshot_retention_days" {
  type        = number
  description = "Days daily snapshots are kept (0 disables them)."
  default     = 1
}

variable "internal_zone_id" {
  type        = string
  description = "Private Route 53 zone for the cache's stable DNS name."
}

variable "dns_name" {
  type        = string
  description = "Record name in the private zone, e.g. redis.prod.shopfloor.internal."
}
