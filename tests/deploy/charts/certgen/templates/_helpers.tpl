{{- define "certgen.admission" -}}{{ .Release.Name }}-admission{{- end -}}
{{- define "certgen.clusterName" -}}{{ .Release.Name }}-{{ .Release.Namespace }}-admission{{- end -}}
{{- define "certgen.hookEvents" -}}pre-install,pre-upgrade,post-install,post-upgrade{{- end -}}
