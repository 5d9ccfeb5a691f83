{{/* Checks and pieces of the Deployment (deployment.yaml). */}}

{{- define "shopfloor.checkShutdown" -}}
{{- $s := .Values.shutdown -}}
{{- $needed := add $s.preStopSeconds $s.drainSeconds $s.timeoutSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed shutdown.preStopSeconds + shutdown.drainSeconds + shutdown.timeoutSeconds (%v), or the kubelet kills requests in flight" .Values.terminationGracePeriodSeconds $needed) -}}
{{- end -}}
{{- $readiness := .Values.probes.readiness -}}
{{- $noticed := mul $readiness.periodSeconds $readiness.failureThreshold -}}
{{- if le (int $s.drainSeconds) (int $noticed) -}}
{{- fail (printf "shutdown.drainSeconds (%v) must exceed probes.readiness.periodSeconds x failureThreshold (%v): the pod must keep serving until its failing /readyz has been noticed" $s.drainSeconds $noticed) -}}
{{- end -}}
{{- end }}

{{- define "shopfloor.probe" -}}
httpGet:
  path: {{ .path }}
  port: management
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}
