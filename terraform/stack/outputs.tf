# The contract (decided facts and every name derived from them) and what only the apply produces
# (endpoints, IDs, ARNs with AWS's own suffixes): docs/cross-layer-contract.md says who reads which.
output "contract" {
  description = "Every cross-layer name, address and port of the environment (terraform/modules/contract), as the stack built them."
  value = {
    environment                = module.contract.environment
    platform                   = module.contract.platform
    account_id                 = module.contract.account_id
    region                     = module.contract.region
    name                       = module.contract.name
    host                       = module.contract.host
    vpc                        = module.contract.vpc
    subnets                    = module.contract.subnets
    internal_zone              = module.contract.internal_zone
    data_stores                = module.contract.data_stores
    ports                      = module.contract.ports
    frontend_node_port_enabled = module.contract.frontend_node_port_enabled
    workload_uid               = module.contract.workload_uid
    service_accounts           = module.contract.service_accounts
    node_role                  = module.contract.node_role
    secret_store               = module.contract.secret_store
    secrets                    = module.contract.secrets
    secrets_prefix             = module.contract.secrets_prefix
    buckets                    = module.contract.buckets
    efs                        = module.contract.efs
    edge                       = module.contract.edge
  }
}

output "platform" {
  description = "The cluster platform this environment runs (eks or k3s)."
  value       = local.platform
}

output "account_id" {
  description = "AWS account the environment lives in (checked against infrastructure.yaml's accountId)."
  value       = data.aws_caller_identity.current.account_id
}

output "cluster_name" {
  description = "Cluster name: the EKS cluster, or the K3s name prefix (the add-ons' clusterName)."
  value       = local.name
}

output "vpc_id" {
  description = "VPC of the environment (the add-ons find it by its Name tag, contract.vpc.tags)."
  value       = module.network.vpc_id
}

output "kubeconfig_command" {
  description = "How to get a kubeconfig for the cluster (before applying argocd/bootstrap/<env>.yaml)."
  value       = local.on_eks ? "aws eks update-kubeconfig --region ${module.contract.region} --name ${local.name}" : module.k3s[0].kubeconfig_command
}

output "rds_endpoint" {
  description = "RDS endpoint behind contract.data_stores.postgresql.external_dns (null when PostgreSQL runs in the cluster)."
  value       = one(module.rds[*].endpoint)
}

output "rds_master_secret_arn" {
  description = "RDS-managed secret of the master password: the database bootstrap's ExternalSecret source (null without RDS)."
  value       = one(module.rds[*].master_user_secret_arn)
}

output "redis_endpoint" {
  description = "ElastiCache primary endpoint: the host of REDIS_URL, which TLS verification needs (null when Redis runs in the cluster)."
  value       = one(module.elasticache[*].primary_endpoint)
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group put-secrets.sh sets the AUTH token on (null without ElastiCache)."
  value       = one(module.elasticache[*].replication_group_id)
}

output "secret_arns" {
  description = "ARN per declared Secrets Manager secret (filled by scripts/aws/put-secrets.sh)."
  value       = module.secrets.secret_arns
}

output "catalog_role_arn" {
  description = "The catalog ServiceAccount's IRSA role (null on K3s, where the node role has the bucket policy)."
  value       = local.on_eks ? module.eks[0].service_account_role_arns["catalog"] : null
}

output "external_secrets_role_arn" {
  description = "The external-secrets ServiceAccount's IRSA role (null on K3s, where the node role reads the secrets)."
  value       = local.on_eks ? module.eks[0].service_account_role_arns["external-secrets"] : null
}

output "uploads_bucket" {
  description = "S3 bucket for the catalog's product images (contract.buckets.images)."
  value       = module.s3.bucket_name
}

output "ecr_repository_urls" {
  description = "environments/<env>/<service>/image.yaml repository, per service."
  value       = module.ecr.repository_urls
}

output "certificate_arn" {
  description = "ACM certificate of the ALB ingresses (null on K3s, where cert-manager issues Traefik's)."
  value       = one(aws_acm_certificate.shop[*].arn)
}

output "certificate_validation_records" {
  description = "DNS records to create in the public zone so ACM issues the certificate (EKS)."
  value       = one(aws_acm_certificate.shop[*].domain_validation_options)
}

output "host" {
  description = "frontend and api-gateway ingress host."
  value       = module.contract.host
}

output "edge_dns_name" {
  description = "The K3s public NLB in front of Traefik: point the host at it (null on EKS, where the ALB controller makes the ALB)."
  value       = one(module.k3s[*].edge_dns_name)
}

output "efs_file_system_id" {
  description = "EFS file system of the catalog's images volume (the PersistentVolume's volumeHandle, with the access point)."
  value       = module.efs.file_system_id
}

output "efs_access_point_ids" {
  description = "EFS access point per consumer (catalog-images)."
  value       = module.efs.access_point_ids
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role for the AWS Load Balancer Controller add-on (null on K3s)."
  value       = local.on_eks ? module.eks[0].load_balancer_controller_role_arn : null
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role for the cluster-autoscaler add-on (null on K3s)."
  value       = local.on_eks ? module.eks[0].cluster_autoscaler_role_arn : null
}

output "github_push_role_arn" {
  description = "Role CI assumes to push images to ECR."
  value       = module.github_oidc.push_role_arn
}

output "github_plan_role_arn" {
  description = "Read-only role CI assumes for terraform plan."
  value       = module.github_oidc.plan_role_arn
}

output "aws_pipeline_connection_arn" {
  description = "GitHub connection of the optional AWS pipeline, to activate once in the console (null when it is off)."
  value       = one(module.aws_pipeline[*].connection_arn)
}

output "log_group_name" {
  description = "The pods' CloudWatch Logs group (aws-for-fluent-bit's cloudWatchLogs.logGroupName)."
  value       = module.logs.log_group_name
}

output "fluent_bit_role_arn" {
  description = "IRSA role of aws-for-fluent-bit's ServiceAccount (null on K3s: the node role carries its policy)."
  value       = module.logs.fluent_bit_role_arn
}

output "yace_role_arn" {
  description = "IRSA role of YACE's ServiceAccount (null on K3s, where there is no RDS and no IRSA)."
  value       = one(module.yace_iam[*].role_arn)
}

output "chaos_fis_experiment_template_ids" {
  description = "FIS experiment template id per chaos/aws template (aws fis start-experiment --experiment-template-id <id>); null unless chaos_fis_enabled on EKS with RDS."
  value       = one(module.chaos_fis[*].experiment_template_ids)
}

output "k3s_people_kubeconfig_user" {
  description = "K3s with k3s_oidc: the kubeconfig user people log in with (kubelogin); null on EKS (access entries) or without an issuer."
  value       = one(module.k3s[*].oidc_kubeconfig_user)
}

output "k3s_ca_certificate_command" {
  description = "K3s: the command that prints the cluster's CA certificate (public) for people's kubeconfig; null on EKS."
  value       = one(module.k3s[*].ca_certificate_command)
}
