terraform {
  required_version = "~> 1.11"

  # No provider: the contract is computed from environments/<env>/infrastructure.yaml alone, so
  # terraform evaluates it anywhere (tests, the put-secrets script, phase-2 generators) without AWS.
  required_providers {}
}
