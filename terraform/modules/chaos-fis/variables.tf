variable "name" {
  type        = string
  description = "Prefix of what the module creates (the role <name>-chaos-fis, the alarm <name>-chaos-stop), e.g. shopfloor-staging."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster whose worker nodes node-termination may terminate (its managed node groups tag their instances eks:cluster-name) and whose ALB the stop alarm watches."
}

variable "db_instance_identifier" {
  type        = string
  description = "RDS instance (not Aurora) rds-failover reboots with a forced failover."
}

variable "vpc_id" {
  type        = string
  description = "VPC whose private subnets az-network-disruption cuts off."
}

variable "availability_zone" {
  type        = string
  description = "The zone az-network-disruption cuts off (its private subnets), e.g. the first of the VPC's zones."
}

variable "ingress_group" {
  type        = string
  description = "The ALB IngressGroup of the shop (charts: ingress.alb.groupName); the AWS Load Balancer Controller tags the ALB ingress.k8s.aws/stack with it."
  default     = "shopfloor"
}

variable "stop_error_percent" {
  type        = number
  description = "The stop condition: the share (percent) of the shop's requests answered 5xx at the ALB over one minute above which FIS stops a running experiment."
  default     = 25

  validation {
    condition     = var.stop_error_percent > 0 && var.stop_error_percent <= 100
    error_message = "stop_error_percent is a percentage in (0, 100]."
  }
}

variable "templates_dir" {
  type        = string
  description = "The folder of FIS experiment templates (CreateExperimentTemplate requests with $${name} placeholders); null: chaos/aws of this repository."
  default     = null
}

variable "experiments" {
  type        = list(string)
  description = "The templates (file names without .json) to create; null: every template in templates_dir. The role is allowed exactly the actions these use."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (and to each template's own tags)."
  default     = {}
}
