output "log_group_name" {
  description = "The pods' log group: aws-for-fluent-bit's cloudWatchLogs.logGroupName."
  value       = aws_cloudwatch_log_group.pods.name
}

output "log_group_arn" {
  description = "ARN of the log group."
  value       = aws_cloudwatch_log_group.pods.arn
}

output "kms_key_arn" {
  description = "The key the group is encrypted with."
  value       = aws_kms_key.logs.arn
}

output "fluent_bit_role_arn" {
  description = "EKS: the role Fluent Bit's ServiceAccount assumes (its eks.amazonaws.com/role-arn annotation); null on K3s."
  value       = one(aws_iam_role.fluent_bit[*].arn)
}

output "fluent_bit_policy_arn" {
  description = "The write policy (attached to the IRSA role on EKS, to the node role on K3s)."
  value       = aws_iam_policy.fluent_bit.arn
}

output "query_definition_ids" {
  description = "The saved Logs Insights queries by name."
  value = {
    errors-by-service = aws_cloudwatch_query_definition.errors_by_service.query_definition_id
    request-trail     = aws_cloudwatch_query_definition.request_trail.query_definition_id
  }
}
