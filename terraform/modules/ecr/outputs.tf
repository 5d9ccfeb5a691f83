output "repository_urls" {
  description = "Repository URL per service (the charts' image.repository)."
  value       = { for service, repo in local.repositories : service => repo.url }
}

output "repository_arns" {
  description = "Repository ARN per service (for push and pull policies)."
  value       = [for repo in local.repositories : repo.arn]
}

output "kms_key_arn" {
  description = "KMS key encrypting the images; pullers need kms:Decrypt on it."
  value       = local.kms_key_arn
}
