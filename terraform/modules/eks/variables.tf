variable "name" {
  type        = string
  description = "Cluster name and prefix of its IAM roles, e.g. shopfloor-prod."
}

variable "kubernetes_version" {
  type        = string
  description = "EKS Kubernetes version."
  default     = "1.31"
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cluster."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the control plane ENIs and the nodes."
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to the public API endpoint; empty keeps the endpoint private."
  default     = []
}

variable "node_instance_types" {
  type        = list(string)
  description = "Instance types of the managed node group."
  default     = ["t3.large"]
}

variable "node_min_size" {
  type        = number
  description = "Minimum (and initial) number of nodes."
  default     = 2
}

variable "node_max_size" {
  type        = number
  description = "Maximum number of nodes (cluster-autoscaler's ceiling)."
  default     = 6
}

variable "log_retention_days" {
  type        = number
  description = "Days control-plane logs are kept."
  default     = 365
}

variable "service_accounts" {
  type = map(object({
    namespace       = string
    service_account = string
    role_name       = string
  }))
  description = "ServiceAccounts that get an IRSA role and the role's name (the contract's service_accounts). Must include aws-load-balancer-controller, cluster-autoscaler, ebs-csi and efs-csi."

  validation {
    condition     = length(setsubtract(["aws-load-balancer-controller", "cluster-autoscaler", "ebs-csi", "efs-csi"], keys(var.service_accounts))) == 0
    error_message = "service_accounts must name the roles of aws-load-balancer-controller, cluster-autoscaler, ebs-csi and efs-csi."
  }
}

variable "service_account_policy_arns" {
  type        = map(list(string))
  description = "Workload roles to create, by key of service_accounts, with the policies each carries (e.g. catalog: the images bucket; external-secrets: reading the environment's secrets)."
  default     = {}
}

variable "access_roles" {
  type = object({
    platform_admins = list(string)
    developers      = list(string)
    learners        = list(string)
  })
  description = "IAM role names (of this account) given EKS access entries: platform_admins cluster-admin, developers and learners their Kubernetes group (access_groups), whose rights argocd/security's RBAC defines."
  default = {
    platform_admins = ["shopfloor-platform-admin"]
    developers      = ["shopfloor-developer"]
    learners        = ["shopfloor-learner"]
  }

  validation {
    condition     = length(var.access_roles.platform_admins) > 0
    error_message = "access_roles.platform_admins must name at least one role: the cluster creator is not admin, so nobody else would be."
  }
}

variable "access_groups" {
  type = object({
    developers = string
    learners   = string
  })
  description = "Kubernetes groups of developers and learners; argocd/security/values.yaml binds the same names (a test compares them)."
  default = {
    developers = "shopfloor:developers"
    learners   = "shopfloor:learners"
  }
}
