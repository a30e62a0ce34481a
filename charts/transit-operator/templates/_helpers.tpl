{{/* Names and labels. */}}
{{- define "transit-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "transit-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "transit-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "transit-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "transit-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "transit-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: transit-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "transit-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "transit-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "transit-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Cross-field rules a JSON schema cannot phrase clearly. Called from the Deployment so that `helm template`
and `helm install` fail with these messages.
*/}}
{{- define "transit-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) -}}
{{- fail (printf "replicaCount=%d with peering.enabled=false: every replica would reconcile the same objects at once. Use replicaCount: 1." (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.watch.namespaces .Values.rbac.secretNamespaces -}}
{{- fail "rbac.secretNamespaces applies only when watch.namespaces is empty: with watch.namespaces set, secrets are readable only in the watched namespaces already." -}}
{{- end -}}
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) -}}
{{- fail "prometheusRule.enabled needs metrics.enabled=true (the alerts read the operator's /metrics)." -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled=true (there is no /metrics endpoint to scrape)." -}}
{{- end -}}
{{- end -}}

{{/* The `transit-operator run` flags (runtime/options.py); tests/chart parses them with that parser. */}}
{{- define "transit-operator.args" -}}
{{- if .Values.watch.namespaces }}
{{- range .Values.watch.namespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
- --log-format={{ .Values.logging.format }}
- --log-level={{ .Values.logging.level }}
- --health-port={{ .Values.healthPort }}
- --metrics-port={{ if .Values.metrics.enabled }}{{ .Values.metrics.port }}{{ else }}0{{ end }}
- --max-workers={{ .Values.maxWorkers }}
{{- if .Values.peering.enabled }}
- --peering={{ .Values.peering.name }}
{{- else }}
- --no-peering
{{- end }}
{{- with .Values.azure.armEndpoint }}
- --arm-endpoint={{ . }}
{{- end }}
{{- if .Values.caBundle.configMap }}
- --ca-bundle=/etc/transit-operator/ca/{{ .Values.caBundle.key }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
