output "role_arn" {
  description = "The FIS experiment role (the templates' roleArn)."
  value       = aws_iam_role.fis.arn
}

output "role_policy" {
  description = "The role's policy document (JSON): what FIS may do, derived from the actions the templates use."
  value       = aws_iam_role_policy.fis.policy
}

output "experiment_template_ids" {
  description = "FIS experiment template id per template name: aws fis start-experiment --experiment-template-id <id>."
  value       = { for name, template in aws_fis_experiment_template.this : name => template.id }
}

output "stop_alarm_arn" {
  description = "The CloudWatch alarm templates use as their stop condition."
  value       = aws_cloudwatch_metric_alarm.stop.arn
}

output "rendered_templates" {
  description = "Each template with its placeholders filled in, for aws fis create-experiment-template --cli-input-json."
  value       = local.rendered
}
