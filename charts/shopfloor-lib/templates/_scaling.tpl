{{/*
CPU autoscaling (autoscaling/v2) at the spec's 70% of the CPU request. The spec's "scale in under
30%" is not a second threshold (an HPA has one target): the HPA asks for ceil(pods x usage / 70%)
pods, so it already removes pods well before usage falls to 30%; the scale-down stabilization
window keeps it from removing them on a short dip. See charts/README.md.
*/}}
{{- define "shopfloor.hpa" -}}
{{- if .Values.autoscaling.enabled }}
{{- $hpa := .Values.autoscaling }}
{{- if gt (int $hpa.minReplicas) (int $hpa.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%v) exceeds autoscaling.maxReplicas (%v)" $hpa.minReplicas $hpa.maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.name" .) "component" "server") | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "shopfloor.name" . }}
  minReplicas: {{ $hpa.minReplicas }}
  maxReplicas: {{ $hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $hpa.targetCPUUtilizationPercentage }}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
        - type: Percent
          value: 100
          periodSeconds: 30
    scaleDown:
      stabilizationWindowSeconds: {{ $hpa.scaleDownStabilizationSeconds }}
      policies:
        - type: Percent
          value: 50
          periodSeconds: 60
{{- end }}
{{- end }}

{{/* Voluntary disruptions (node drains, upgrades) take at most this many pods at once. */}}
{{- define "shopfloor.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "shopfloor.metadata" (dict "ctx" . "name" (include "shopfloor.name" .) "component" "server") | nindent 2 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  # A pod that is not ready serves nobody: evicting it must not wait for the budget.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "shopfloor.selectorLabels" (dict "ctx" . "component" "server") | nindent 6 }}
{{- end }}
{{- end }}
