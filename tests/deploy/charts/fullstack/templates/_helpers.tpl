{{- define "fs.name" -}}{{ .Release.Name }}-fs{{- end -}}
{{- define "fs.sa" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "fs.name" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}
{{- define "fs.labels" -}}
app.kubernetes.io/name: fullstack
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
