# State of the dev environment: terraform init -backend-config=../environments/dev/backend.hcl (from terraform/stack)
key = "shopfloor/dev/terraform.tfstate"
