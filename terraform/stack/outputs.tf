# Named for where they go: see docs/infrastructure.md, "From outputs to environments/".
output "platform" {
  description = "The cluster platform this environment runs (eks or k3s)."
  value       = var.platform
}

output "account_id" {
  description = "AWS account the environment lives in (replaces the placeholder account in environments/)."
  value       = data.aws_caller_identity.current.account_id
}

output "cluster_name" {
  description = "Cluster name: the EKS cluster, or the K3s name prefix."
  value       = local.name
}

output "kubeconfig_command" {
  description = "How to get a kubeconfig for the cluster (before applying argocd/bootstrap/<env>.yaml)."
  value       = local.on_eks ? "aws eks update-kubeconfig --region ${var.region} --name ${local.name}" : module.k3s[0].kubeconfig_command
}

output "postgresql_external_name" {
  description = "environments/<env>/postgresql/values.yaml externalName (private DNS CNAME to RDS)."
  value       = module.rds.dns_name
}

output "rds_endpoint" {
  description = "RDS endpoint address behind postgresql_external_name."
  value       = module.rds.endpoint
}

output "rds_master_secret_arn" {
  description = "Secrets Manager secret of the RDS master password (ExternalSecret source for database setup)."
  value       = module.rds.master_user_secret_arn
}

output "redis_external_name" {
  description = "environments/<env>/redis/values.yaml externalName (private DNS CNAME to ElastiCache)."
  value       = module.elasticache.dns_name
}

output "redis_endpoint" {
  description = "ElastiCache primary endpoint behind redis_external_name."
  value       = module.elasticache.primary_endpoint
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token (ExternalSecret source for REDIS_URL)."
  value       = module.elasticache.auth_secret_arn
}

output "catalog_role_arn" {
  description = "environments/<env>/catalog/values.yaml serviceAccount eks.amazonaws.com/role-arn (null on K3s)."
  value       = local.on_eks ? module.eks[0].service_account_role_arns["catalog"] : null
}

output "uploads_bucket" {
  description = "S3 bucket for the catalog's product images."
  value       = module.s3.bucket_name
}

output "ecr_repository_urls" {
  description = "environments/<env>/<service>/image.yaml repository, per service."
  value       = module.ecr.repository_urls
}

output "certificate_arn" {
  description = "frontend and api-gateway ingress certificateArn (ACM)."
  value       = aws_acm_certificate.shop.arn
}

output "certificate_validation_records" {
  description = "DNS records to create in the public zone so ACM issues the certificate."
  value       = aws_acm_certificate.shop.domain_validation_options
}

output "host" {
  description = "frontend and api-gateway ingress host."
  value       = var.host
}

output "efs_file_system_id" {
  description = "EFS file system for an EFS CSI StorageClass (fileSystemId)."
  value       = module.efs.file_system_id
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
