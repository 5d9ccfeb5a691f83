{{/*
The service's route at the edge: its own path on the shared host, so each chart (and each Argo CD
Application) owns and rolls back its own route. Traefik (K3s, kind) merges the Ingresses of one
host; on EKS the AWS Load Balancer Controller puts every Ingress of one group on one ALB, and
group.order makes /api win over / (lower orders are evaluated first).
*/}}
{{- define "shopfloor.ingress" -}}
{{- if .Values.ingress.enabled }}
{{- $ing := .Values.ingress -}}
{{- $alb := eq $ing.className "alb" -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.name" .) "component" "server") | nindent 2 }}
  {{- $annotations := dict }}
  {{- if $alb }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/scheme" $ing.alb.scheme }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/target-type" "ip" }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/group.name" $ing.alb.groupName }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/group.order" (toString $ing.alb.groupOrder) }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/healthcheck-path" .Values.probes.readinessPath }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/success-codes" "200" }}
  {{- /* In-flight requests get as long as the service's own shutdown gives them. */}}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/target-group-attributes" (printf "deregistration_delay.timeout_seconds=%v" .Values.shutdown.timeoutSeconds) }}
  {{- if $ing.alb.certificateArn }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/certificate-arn" $ing.alb.certificateArn }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/listen-ports" "[{\"HTTP\": 80}, {\"HTTPS\": 443}]" }}
  {{- $_ := set $annotations "alb.ingress.kubernetes.io/ssl-redirect" "443" }}
  {{- end }}
  {{- else if $ing.tls.enabled }}
  {{- if not $ing.tls.secretName }}
  {{- fail "ingress.tls.secretName: required when ingress.tls.enabled (the certificate's Secret)" }}
  {{- end }}
  {{- $_ := set $annotations "traefik.ingress.kubernetes.io/router.entrypoints" "websecure" }}
  {{- $_ := set $annotations "traefik.ingress.kubernetes.io/router.tls" "true" }}
  {{- /* The certificate comes from cert-manager (or by hand), never from git. */}}
  {{- $_ := set $annotations "shopfloor.io/external-secrets" $ing.tls.secretName }}
  {{- end }}
  {{- $annotations = merge (deepCopy $ing.annotations) $annotations }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  ingressClassName: {{ $ing.className }}
  {{- if and $ing.tls.enabled (not $alb) }}
  tls:
    - hosts:
        - {{ $ing.host | quote }}
      secretName: {{ $ing.tls.secretName }}
  {{- end }}
  rules:
    {{- if $ing.host }}
    - host: {{ $ing.host | quote }}
      http:
    {{- else }}
    - http:
    {{- end }}
        paths:
          - path: {{ $ing.path }}
            pathType: Prefix
            backend:
              service:
                name: {{ include "shopfloor.serviceName" . }}
                port:
                  number: {{ .Values.port }}
{{- end }}
{{- end }}
