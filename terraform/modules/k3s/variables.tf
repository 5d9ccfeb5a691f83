variable "name" {
  type        = string
  description = "Name prefix of the cluster's resources, e.g. shopfloor-dev."
}

variable "region" {
  type        = string
  description = "AWS region (the nodes' AWS CLI calls need it)."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the nodes."
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Public subnets of the NLB in front of Traefik, one per zone."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets; the server goes in the first, agents spread over all."
}

variable "k3s_version" {
  type        = string
  description = "Pinned K3s release installed by user data."
  default     = "v1.31.4+k3s1"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "Pin an exact K3s release such as v1.31.4+k3s1, never a channel."
  }
}

variable "ecr_credential_provider_version" {
  type        = string
  description = "Release of the kubelet ECR credential provider (cloud-provider-aws)."
  default     = "v1.31.1"
}

variable "ami_ssm_parameter" {
  type        = string
  description = "Public SSM parameter naming the AMI (Amazon Linux 2023 has the AWS CLI the user data uses)."
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "server_instance_type" {
  type        = string
  description = "Instance type of the K3s server."
  default     = "t3.medium"
}

variable "agent_instance_type" {
  type        = string
  description = "Instance type of the K3s agents."
  default     = "t3.large"
}

variable "agent_min_size" {
  type        = number
  description = "Minimum (and initial) number of agents."
  default     = 2
}

variable "agent_max_size" {
  type        = number
  description = "Maximum number of agents."
  default     = 4
}

variable "root_volume_size" {
  type        = number
  description = "Root volume size in GiB (local-path volumes live on it)."
  default     = 50
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API on 6443 (e.g. the VPC, a VPN)."
  default     = []
}

variable "node_policy_arns" {
  type        = list(string)
  description = "Extra IAM policies for the node role (K3s has no IRSA: e.g. the uploads bucket policy)."
  default     = []
}

variable "ecr_kms_key_arns" {
  type        = list(string)
  description = "KMS keys of the ECR repositories the nodes pull from."
  default     = []
}

variable "node_role_name" {
  type        = string
  description = "Name of the nodes' IAM role (the contract's node_role.name): what pods act as on K3s."
}

variable "token_version" {
  type        = number
  description = "Version of the write-only join token; raise it to have Terraform write a new token (then replace the nodes)."
  default     = 1
}

variable "edge_ports" {
  type        = list(number)
  description = "Ports the public NLB forwards to Traefik on the nodes (HTTP for ACME challenges and redirects, HTTPS)."
  default     = [80, 443]
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the public NLB from deletion."
  default     = false
}

variable "node_port" {
  type = object({
    enabled      = bool
    port         = number
    client_cidrs = list(string)
  })
  description = "The frontend's NodePort: when enabled, the port is opened on the nodes to client_cidrs (the contract's frontendNodePort)."
  default     = { enabled = false, port = 30080, client_cidrs = [] }

  validation {
    condition     = var.node_port.port >= 30000 && var.node_port.port <= 32767
    error_message = "A NodePort is in 30000-32767."
  }
  validation {
    condition     = !var.node_port.enabled || length(var.node_port.client_cidrs) > 0
    error_message = "An enabled NodePort needs the client networks allowed to reach it."
  }
}

variable "access_groups" {
  type = object({
    platform_admins = string
    developers      = string
    learners        = string
  })
  description = "Kubernetes groups of people, the ones EKS access entries give and argocd/security/values.yaml binds (a test compares them); with oidc, the IdP's groups claim maps to them through oidc.groups_prefix."
  default = {
    platform_admins = "shopfloor:platform-admins"
    developers      = "shopfloor:developers"
    learners        = "shopfloor:learners"
  }
}

variable "oidc" {
  type = object({
    issuer_url      = string
    client_id       = string
    username_claim  = optional(string, "sub")
    username_prefix = optional(string, "oidc:")
    groups_claim    = optional(string, "groups")
    groups_prefix   = optional(string, "shopfloor:")
    required_claims = optional(map(string), {})
    extra_scopes    = optional(list(string), [])
  })
  description = "People's login: the API server trusts ID tokens of this OpenID Connect issuer (null: only the admin kubeconfig, through SSM). The groups claim, prefixed with groups_prefix, must give access_groups (an IdP group platform-admins becomes shopfloor:platform-admins); usernames are prefixed with username_prefix."
  default     = null

  validation {
    # The API server only fetches keys over HTTPS, and the URL must equal the tokens' iss exactly.
    condition     = var.oidc == null || can(regex("^https://[^?#[:space:]]+[^/?#[:space:]]$", var.oidc.issuer_url))
    error_message = "oidc.issuer_url must be an https:// URL without query, fragment or trailing slash (it must equal the tokens' iss)."
  }
  validation {
    condition     = var.oidc == null || try(length(trimspace(var.oidc.client_id)) > 0, false)
    error_message = "oidc.client_id must name the client the tokens are issued for (their aud)."
  }
  validation {
    # An unprefixed group claim named system:masters would be cluster-admin.
    condition     = var.oidc == null || try(length(var.oidc.groups_prefix) > 0 && !startswith(var.oidc.groups_prefix, "system:"), false)
    error_message = "oidc.groups_prefix must be set and must not start with system: (an IdP group must never become a Kubernetes system group)."
  }
  validation {
    # "-" turns prefixing off; an IdP user could then take a name such as system:admin.
    condition     = var.oidc == null || try(length(var.oidc.username_prefix) > 0 && var.oidc.username_prefix != "-" && !startswith(var.oidc.username_prefix, "system:"), false)
    error_message = "oidc.username_prefix must be set, not \"-\", and must not start with system:."
  }
  validation {
    condition     = var.oidc == null || try(alltrue([for group in values(var.access_groups) : startswith(group, var.oidc.groups_prefix) && length(group) > length(var.oidc.groups_prefix)]), false)
    error_message = "Every access group must start with oidc.groups_prefix, or no IdP group could ever map to it."
  }
}
