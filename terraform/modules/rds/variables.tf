variable "identifier" {
  type        = string
  description = "RDS instance identifier, e.g. shopfloor-prod."
}

variable "vpc_id" {
  type        = string
  description = "VPC the database lives in."
}

variable "db_subnet_group_name" {
  type        = string
  description = "DB subnet group spanning at least two AZs."
}

variable "cluster_security_group_id" {
  type        = string
  description = "Security group of the cluster nodes: the only source allowed to connect."
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL version (major.minor)."
  default     = "16.4"
}

variable "instance_class" {
  type        = string
  description = "RDS instance class."
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  type        = number
  description = "Initial storage in GiB."
  default     = 20
}

variable "max_allocated_storage" {
  type        = number
  description = "Storage autoscaling ceiling in GiB."
  default     = 100
}

variable "master_username" {
  type        = string
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  default     = "shopfloor_admin"
}

variable "backup_retention_days" {
  type        = number
  description = "Days automated backups are kept."
  default     = 7
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse deletion (true in prod); when false, destroy skips the final snapshot."
  default     = true
}

variable "internal_zone_id" {
  type        = string
  description = "Private Route 53 zone for the database's stable DNS name."
}

variable "dns_name" {
  type        = string
  description = "Record name in the private zone, e.g. postgresql.prod.shopfloor.internal."
}
