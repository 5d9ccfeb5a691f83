variable "name" {
  type        = string
  description = "Name of the file system and prefix of its security group."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the mount targets."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets; one mount target each."
}

variable "cluster_security_group_id" {
  type        = string
  description = "Security group of the cluster nodes: the only NFS clients allowed."
}
