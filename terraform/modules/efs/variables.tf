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

variable "access_points" {
  type = map(object({
    path = string
    uid  = number
    gid  = number
  }))
  description = "Access points by consumer: root directory and POSIX owner (the contract's efs: catalog-images as UID 10001)."

  validation {
    condition     = alltrue([for point in values(var.access_points) : startswith(point.path, "/") && point.path != "/" && point.uid != 0])
    error_message = "Each access point has its own directory (not /) and a non-root owner."
  }
}

variable "nfs_port" {
  type        = number
  description = "NFS port the cluster reaches the mount targets on."
  default     = 2049
}
