output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the API."
  value       = module.eks.cluster_certificate_authority_data
}

output "cluster_security_group_id" {
  description = "Security group of the nodes (pods use it); the data stores admit it."
  value       = module.eks.node_security_group_id
}

output "oidc_provider_arn" {
  description = "IRSA OIDC provider ARN."
  value       = module.eks.oidc_provider_arn
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = module.load_balancer_controller_irsa.iam_role_arn
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role of cluster-autoscaler."
  value       = module.cluster_autoscaler_irsa.iam_role_arn
}

output "service_account_role_arns" {
  description = "IRSA role ARN per entry of var.service_account_policy_arns (catalog's goes to its ServiceAccount annotation, external-secrets' to the add-on's)."
  value       = { for key in keys(module.service_irsa) : key => module.service_irsa[key].iam_role_arn }
}

output "access_entries" {
  description = "Who may use the cluster: per access entry its IAM principal, Kubernetes groups and access policies (cluster-admin for platform admins only)."
  value = {
    for key, entry in local.access_entries : key => {
      principal_arn     = entry.principal_arn
      kubernetes_groups = try(entry.kubernetes_groups, [])
      policies          = [for association in values(try(entry.policy_associations, {})) : association.policy_arn]
    }
  }
}
