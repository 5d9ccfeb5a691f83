output "repository_urls" {
  description = "Repository URL per service (the charts' image.repository)."
  value       = { for service, repo in aws_ecr_repository.service : service => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARN per service (for push and pull policies)."
  value       = [for repo in aws_ecr_repository.service : repo.arn]
}

output "kms_key_arn" {
  description = "KMS key encrypting the images; pullers need kms:Decrypt on it."
  value       = aws_kms_key.ecr.arn
}
