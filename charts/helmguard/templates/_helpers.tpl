{{/* The release's full name, capped at 63 characters. */}}
{{- define "helmguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "helmguard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "helmguard.labels" -}}
{{ include "helmguard.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "helmguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "helmguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "helmguard.databaseSecret" -}}
{{- if .Values.database.url -}}
{{- include "helmguard.fullname" . }}-database
{{- else -}}
{{- .Values.database.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "helmguard.apiTokenSecret" -}}
{{- if .Values.apiToken.value -}}
{{- include "helmguard.fullname" . }}-api-token
{{- else -}}
{{- .Values.apiToken.existingSecret -}}
{{- end -}}
{{- end -}}
