# The AWS values the K3s module's tests plan with (one set for main and access): the ARNs and ids
# the module reads back from resources a mock provider would leave unknown or random.
mock_data "aws_partition" {
  defaults = { partition = "aws" }
}
mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/k3s" }
}
mock_resource "aws_ssm_parameter" {
  defaults = { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/shopfloor-dev/k3s/token" }
}
mock_resource "aws_lb_target_group" {
  defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shopfloor-dev-traefik/0123456789abcdef" }
}
mock_resource "aws_security_group" {
  defaults = { id = "sg-mock" }
}
mock_resource "aws_instance" {
  defaults = { id = "i-0123456789abcdef0" }
}
