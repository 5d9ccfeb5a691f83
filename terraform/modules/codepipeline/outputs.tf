output "pipeline_name" {
  description = "Name of the CodePipeline (aws codepipeline start-pipeline-execution --name)."
  value       = aws_codepipeline.release.name
}

output "codebuild_project_name" {
  description = "Name of the CodeBuild project running the buildspec."
  value       = aws_codebuild_project.release.name
}

output "connection_arn" {
  description = "The GitHub connection; complete its handshake once in the console before the first run."
  value       = aws_codestarconnections_connection.github.arn
}

output "artifact_bucket" {
  description = "Bucket of the pipeline's artifacts."
  value       = aws_s3_bucket.artifacts.id
}
