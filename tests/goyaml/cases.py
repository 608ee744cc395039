"""The differential YAML corpus: inputs whose reading by helmguard must equal Go's.

Each case is (name, mode, input). Modes are yamlref's (tools/yamlref/main.go):
"helm" (a rendered template: Helm's split, then sigs.k8s.io/yaml per document),
"reader" (a crds/ file: apimachinery's YAMLOrJSONDecoder), "doc" (one document: values
given to the API, kubeconfig files). Written for helmguard; the chart fragments reproduce
patterns of popular public charts without copying them.
"""

from __future__ import annotations

Case = tuple[str, str, str | bytes]


def _bomb(levels: int, width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _block_maps(levels: int) -> str:
    """`levels` nested block mappings, one space of indentation each."""
    return "".join(" " * i + "k:\n" for i in range(levels - 1)) + " " * (levels - 1) + "k: v\n"


def _chain_then(maps: int, compact: int, flow: int) -> str:
    """`maps` mappings each holding an indentless sequence (two levels per go-yaml indent),
    then `compact` compact sequences and `flow` flow sequences: past libyaml's 20016 levels
    within go-yaml's two limits."""
    lines = ["k:\n"] + ["  " * (i - 1) + "- k:\n" for i in range(1, maps)]
    return "".join(lines) + "  " * (maps - 1) + "- " * compact + "[" * flow + "]" * flow + "\n"


def _aliases(plain: int, refs: int) -> str:
    body = [f"k{i}: v{i}" for i in range(plain)]
    body.append("shared: &s [1, 2, 3]")
    body += [f"r{i}: *s" for i in range(refs)]
    return "\n".join(body) + "\n"


BOOLEANS: list[Case] = [
    (
        "bool_yaml11_yes_no",
        "helm",
        "a: y\nb: Y\nc: yes\nd: Yes\ne: YES\nf: n\ng: N\nh: no\ni: No\nj: NO\n",
    ),
    ("bool_on_off", "helm", "a: on\nb: On\nc: ON\nd: off\ne: Off\nf: OFF\n"),
    (
        "bool_true_false",
        "helm",
        "a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\ng: tRUE\n",
    ),
    ("bool_quoted_stay_strings", "helm", "a: \"yes\"\nb: 'no'\nc: \"y\"\nd: 'on'\n"),
    ("bool_keys", "helm", "y: 1\nn: 2\non: 3\noff: 4\nno: 5\n"),
    ("bool_tagged", "helm", "a: !!bool yes\nb: !!bool 'off'\nc: !!str yes\n"),
    ("bool_bad_tag", "helm", "a: !!bool maybe\n"),
    ("bool_in_flow", "helm", "a: [y, n, yes, no, on, off]\n"),
]

NULLS: list[Case] = [
    ("null_forms", "helm", "a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: nULL\ng: ''\n"),
    ("null_key_tilde", "helm", "~: x\n"),
    ("null_key_empty", "helm", "?\n: x\n"),
    ("null_key_quoted", "helm", '"null": x\n"~": y\n'),
    ("null_tagged", "helm", "a: !!null ~\nb: !!null ''\n"),
    ("null_tag_bad", "helm", "a: !!null x\n"),
    ("null_in_list", "helm", "- ~\n- null\n-\n- ''\n"),
]

INTS: list[Case] = [
    ("int_long_leading_zeros", "helm", "a: " + "0" * 70 + "17\n"),
    ("int_huge_digit_string", "helm", "a: " + "1" * 5000 + "\nb: -" + "9" * 400 + "\n"),
    ("int_decimal", "helm", "a: 0\nb: -1\nc: +7\nd: 123456789012\ne: -0\n"),
    ("int_octal_0o", "helm", "defaultMode: 0o644\nb: 0O17\n"),
    ("int_octal_leading_zero", "helm", "defaultMode: 0644\nb: 0777\nc: 00\n"),
    ("int_08_09", "helm", "a: 08\nb: 09\nc: 0999\nd: 0o8\n"),
    ("int_hex", "helm", "a: 0x1F\nb: 0XFF\nc: -0x10\nd: 0xg\ne: +0x10\n"),
    ("int_binary", "helm", "a: 0b101\nb: -0b11\nc: 0B11\nd: 0b2\ne: 0b-101\n"),
    ("int_underscores", "helm", "a: 1_000\nb: 0x_ff\nc: 1__0\nd: _1\ne: 1_\n"),
    ("int_int64_bounds", "helm", "a: 9223372036854775807\nb: -9223372036854775808\n"),
    ("int_uint64", "helm", "a: 18446744073709551615\nb: 9223372036854775808\n"),
    ("int_overflow_to_float", "helm", "a: 18446744073709551616\nb: 99999999999999999999999\n"),
    ("int_tagged", "helm", "a: !!int \"42\"\nb: !!int 0x10\nc: !!int '-7'\n"),
    ("int_tag_rejects_float", "helm", "a: !!int 4.5\n"),
    ("int_tag_rejects_text", "helm", "a: !!int foo\n"),
    ("int_sign_only", "helm", "a: +\nb: -\nc: -_\nd: +-1\n"),
    ("int_ports_and_replicas", "helm", "replicas: 3\nport: 8080\ntargetPort: '8080'\n"),
]

FLOATS: list[Case] = [
    ("float_exponent", "helm", "a: 1e3\nb: 1E3\nc: 1e-3\nd: -1.5e+2\ne: 6.02e23\nf: 1e+3\n"),
    ("float_dot_forms", "helm", "a: .5\nb: +.5\nc: -.5\nd: 5.\ne: 1.0\nf: .5e3\ng: 1.5\n"),
    ("float_inf_value", "helm", "a: .inf\n"),
    ("float_minus_inf_value", "helm", "a: -.Inf\n"),
    ("float_nan_value", "helm", "a: .nan\n"),
    ("float_tagged_inf", "helm", "a: !!float .INF\n"),
    ("float_words_are_text", "helm", "a: inf\nb: infinity\nc: nan\nd: .infinity\ne: NaN\n"),
    ("float_overflow_is_text", "helm", "a: 1e400\nb: -1e400\n"),
    ("float_underflow", "helm", "a: 1e-400\n"),
    ("float_json_integral", "helm", "a: 1e21\nb: 1e20\nc: 123456789.0\nd: 0.000001\ne: 1e-7\n"),
    ("float_tag_on_int", "helm", "a: !!float 3\nb: !!float '2'\n"),
    ("float_hex_is_text", "helm", "a: 0x1p-2\nb: 1,000\nc: 1.2.3\n"),
    ("float_keys", "helm", "1.5: a\n0.1: b\n1e6: c\n3.14159265358979: d\n1234567.0: f\n.inf: g\n"),
    ("float_key_negative_zero", "helm", "-0.0: a\n0.00001: b\n"),
]

SEXAGESIMAL: list[Case] = [
    ("sexagesimal_is_text", "helm", "backup_time: 22:00\nb: 1:30:00\nc: -1:30\nd: 190:20:30.15\n"),
    ("sexagesimal_key", "helm", "22:00: night\n"),
]

TIMESTAMPS: list[Case] = [
    ("ts_date", "helm", "release-date: 2024-01-15\n"),
    ("ts_invalid_date", "helm", "d: 2024-02-30\ne: 2024-13-01\n"),
    (
        "ts_datetimes",
        "helm",
        "a: 2001-12-14t21:59:43.10-05:00\nb: 2001-12-14 21:59:43.10\nc: 2002-12-14\n"
        "d: 2001-12-15T02:59:43.1Z\ne: 2001-12-14 21:59:43.10 -5\n",
    ),
    ("ts_key", "helm", "2024-01-15: x\n"),
    ("ts_tagged", "helm", "a: !!timestamp 2024-01-15\nb: !!timestamp '2024-1-5'\n"),
    ("ts_tag_rejects_text", "helm", "a: !!timestamp soon\n"),
    ("ts_short_forms", "helm", "a: 2024-1-5\nb: 24-01-05\n"),
]

STRINGS: list[Case] = [
    ("str_equals_list", "helm", "- =\n- ==\n- a=b\n- '!='\n"),
    ("str_equals_value", "helm", "op: =\n"),
    ("str_merge_as_value", "helm", "a: <<\nb: [<<]\n"),
    ("str_quoted_merge_key", "helm", '"<<": {a: 1}\nb: 2\n'),
    (
        "str_specials",
        "helm",
        "a: '@x'\nb: \"`x`\"\nc: a:b\nd: http://x:80/y\ne: -x\nf: .x\ng: '%x'\n",
    ),
    ("str_escapes", "helm", 'a: "\\t\\n\\x41\\u00e9\\U0001F600\\\\ \\" \\0 \\e"\n'),
    ("str_slash_escape", "helm", 'a: "a\\/b"\n'),
    ("str_slash_escape_in_list", "helm", 'a: ["x", "y\\/z"]\n'),
    ("str_escaped_backslash_then_slash", "helm", 'a: "x\\\\/y"\n'),
    ("str_single_quoted_backslash", "helm", "a: 'a\\/b'\nb: 'it''s'\n"),
    (
        "str_block_scalars",
        "helm",
        "a: |\n  x\n  y\nb: >\n  x\n  y\nc: |-\n  z\nd: |+\n  w\n\ne: end\nf: >2\n   indented\n",
    ),
    ("str_multiline_plain", "helm", 'a: this is\n  a plain\n  multiline\nb: "quoted\n  multi"\n'),
    ("str_unicode", "helm", "名前: 値\nemoji: 😀\nrtl: שלום\n"),
    ("str_unknown_escape", "helm", 'a: "\\q"\n'),
    ("str_apostrophe_escape", "helm", 'a: "\\\'"\n'),
    ("str_tab_after_colon", "helm", "a:\tb\n"),
    ("str_comment_like", "helm", "a: b #c\nd: e#f\ng: '#h'\n"),
    ("str_question_mark_in_flow", "helm", "a: {url: http://x?y=1}\n"),
    ("str_question_mark_in_flow_list", "helm", "a: [b, c ?d]\n"),
    ("str_question_mark_key_in_flow", "helm", "a: [? b]\nc: {? d: e}\n"),
    ("str_question_mark_quoted_in_flow", "helm", "a: [\"x?y\", 'z?']\nb: x?y\n"),
    ("str_apostrophe_escape_and_flow", "helm", 'a: "it\\\'s"\nb: [x, "y?"]\nc: [z?]\n'),
    ("str_flow_colons", "helm", "a: {url: http://x:80/y, t: 1:2}\nb: [a:b, c: d]\n"),
]

MERGES: list[Case] = [
    ("merge_basic", "helm", "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  c: 3\n"),
    ("merge_later_key_wins", "helm", "base: &b {a: 1}\nx:\n  <<: *b\n  a: 2\n"),
    ("merge_overrides_earlier_key", "helm", "base: &b {a: 1}\nx:\n  a: 2\n  <<: *b\n"),
    (
        "merge_list_first_wins",
        "helm",
        "p: &p {a: 1, b: 1}\nq: &q {b: 2, c: 2}\nx:\n  <<: [*p, *q]\n",
    ),
    ("merge_inline_map", "helm", "x:\n  <<: {a: 1}\n  b: 2\n"),
    ("merge_scalar_error", "helm", "x:\n  <<: 1\n"),
    ("merge_alias_to_list_error", "helm", "l: &l [{a: 1}]\nx:\n  <<: *l\n"),
    ("merge_list_of_scalars_error", "helm", "x:\n  <<: [1, 2]\n"),
    ("merge_nested", "helm", "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n"),
    ("merge_explicit_tag", "helm", "x:\n  !!merge <<: {a: 1}\n"),
    ("merge_twice", "helm", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: *a\n  <<: *b\n"),
    ("merge_list_inline_and_alias", "helm", "a: &a {x: 1}\nc:\n  <<: [*a, {x: 2, y: 3}]\n"),
    ("merge_null_error", "helm", "x:\n  <<: ~\n"),
    (
        "merge_container_defaults",
        "helm",
        "defaults: &defaults\n  imagePullPolicy: IfNotPresent\n  resources: {limits: {cpu: 1}}\n"
        "containers:\n- <<: *defaults\n  name: a\n  image: x\n- <<: *defaults\n  name: b\n"
        "  imagePullPolicy: Always\n",
    ),
]

ANCHORS: list[Case] = [
    ("alias_scalar", "helm", "a: &x hello\nb: *x\n"),
    ("alias_list", "helm", "a: &l [1, 2]\nb: *l\nc: [*l, *l]\n"),
    ("alias_as_key", "helm", "a: &k key\n*k : v\n"),
    ("alias_undefined", "helm", "a: *nope\n"),
    ("alias_recursive_list", "helm", "a: &a [*a]\n"),
    ("alias_recursive_map", "helm", "a: &a {b: *a}\n"),
    ("alias_redefined_anchor", "helm", "a: &x 1\nb: &x 2\nc: *x\n"),
    ("alias_billion_laughs", "helm", _bomb(9, 9)),
    ("alias_bomb_small_ok", "helm", _bomb(2, 9)),
    ("alias_bomb_over_threshold", "helm", _bomb(3, 10)),
    ("alias_many_refs_below_threshold", "helm", _aliases(600, 120)),
    ("alias_many_refs_over_threshold", "helm", _aliases(5, 400)),
]

KEYS: list[Case] = [
    ("key_int_tcp_services", "helm", '9000: "ns/svc:80"\n9001: "ns/other:81"\n'),
    ("key_bool", "helm", "true: a\nfalse: b\n"),
    ("key_hex", "helm", "0x10: a\n"),
    ("key_octal", "helm", "0o10: a\n"),
    ("key_negative", "helm", "-1: a\n+2: b\n"),
    ("key_int64_max", "helm", "9223372036854775807: a\n"),
    ("key_uint64_error", "helm", "18446744073709551615: a\n"),
    ("key_list_error", "helm", "[a, b]: c\n"),
    ("key_map_error", "helm", "? {a: 1}\n: c\n"),
    ("key_binary", "helm", "!!binary aGk=: x\n"),
    ("key_duplicate_last_wins", "helm", "a: 1\nb: 0\na: 2\n"),
    ("key_empty_string", "helm", '"": a\n'),
    ("key_unknown_tag", "helm", "!k 5: a\n"),
]

TAGS: list[Case] = [
    ("tag_unknown_scalar", "helm", "a: !Ref foo\nb: !GetAtt x.y\nc: !Ref 3\nd: !Sub 'yes'\n"),
    ("tag_unknown_map", "helm", "a: !custom {b: 1, c: yes}\n"),
    ("tag_unknown_seq", "helm", "a: !custom [1, on]\n"),
    ("tag_set", "helm", "s: !!set {a, b}\n"),
    ("tag_omap", "helm", "o: !!omap [{a: 1}, {b: 2}]\n"),
    ("tag_binary", "helm", "b: !!binary aGVsbG8gd29ybGQ=\n"),
    ("tag_binary_multiline", "helm", "b: !!binary |\n  aGVs\n  bG8=\n"),
    ("tag_binary_invalid", "helm", "b: !!binary '***'\n"),
    ("tag_binary_not_utf8", "helm", "b: !!binary /w==\nc: !!binary 4oI=\n"),
    ("tag_str_on_numbers", "helm", "a: !!str 3\nb: !!str true\nc: !!str ~\n"),
    ("tag_verbatim", "helm", "a: !<tag:yaml.org,2002:str> 3\nb: !<tag:example.com:x> 4\n"),
    ("tag_directive_handle", "helm", "%TAG !e! tag:example.com,2000:\n---\na: !e!foo bar\n"),
    ("tag_value", "helm", "a: !!value =\n"),
    ("tag_seq_on_scalar", "helm", "a: !!seq x\nb: !!map [1]\n"),
    (
        "tag_python_object",
        "helm",
        "a: !!python/object:os.system {}\nb: !!python/name:os.system ''\n",
    ),
]

DOCUMENTS: list[Case] = [
    ("docs_multi", "helm", "a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: 3\n"),
    ("docs_separator_comment", "helm", "a: 1\n--- # x\nb: 2\n"),
    ("docs_leading_separator", "helm", "---\na: 1\n"),
    ("docs_document_end", "helm", "a: 1\n...\n"),
    ("docs_separator_glued", "helm", "a: 1\n---b: 2\n"),
    ("docs_scalar_document", "helm", "just text\n"),
    ("docs_list_document", "helm", "- a\n- b\n"),
    ("docs_empty", "helm", ""),
    ("docs_content_after_separator", "helm", "--- a: 1\n"),
    ("docs_yaml_directive", "helm", "%YAML 1.1\n---\na: 1\n"),
    ("docs_bom", "helm", "\ufeffa: 1\n"),
    ("docs_crlf", "helm", "a: 1\r\nb: 2\r\n---\r\nc: 3\r\n"),
    ("doc_only_first_document", "doc", "a: 1\n---\nb: 2\n"),
    (
        "doc_values_mapping",
        "doc",
        "image:\n  tag: 1.10\n  pullPolicy: IfNotPresent\nenabled: yes\n",
    ),
    (
        "doc_kubeconfig_quoted_bool",
        "doc",
        'clusters:\n- cluster:\n    insecure-skip-tls-verify: "false"\n',
    ),
    ("doc_invalid_utf8_leading", "doc", b"a: \xff\n"),
    ("doc_invalid_utf8_trailing", "doc", b"a: \xc3\x28\n"),
    ("doc_invalid_utf8_truncated", "doc", b"a: b\nc: \xe2\x82\n"),
    ("doc_control_character", "doc", "a: \x07\n"),
    ("doc_empty", "doc", ""),
]

READER: list[Case] = [
    ("reader_basic", "reader", "a: 1\n---\nb: 2\n"),
    ("reader_separator_comment", "reader", "--- # c\na: 1\n"),
    ("reader_separator_with_content", "reader", "a: 1\n--- b: 2\n"),
    ("reader_separator_glued", "reader", "a: 1\n---b\n"),
    ("reader_empty_documents", "reader", "---\n---\n# x\n---\na: 1\n"),
    ("reader_null_document", "reader", "null\n---\na: 1\n"),
    ("reader_json_stream", "reader", '{"a": 1}\n{"b": [1, 2.5, true, null]}\n'),
    ("reader_json_then_yaml", "reader", '{"a": 1}\n{"b": [1, 2:5, true]}\n---\nc: y\n'),
    ("reader_json_bad_first", "reader", '{"a": y}\n---\nb: 2\n'),
    ("reader_json_two_then_bad", "reader", '{"a": 1}\n{"b": 2}\n{"c": y}\n'),
    ("reader_json_single", "reader", '  {"a": {"b": "yes"}, "c": 1e3}\n'),
    ("reader_document_end", "reader", "a: 1\n...\n---\nb: 2\n"),
    ("reader_indented_separator", "reader", "a: |\n  ---\n  x\n"),
    ("reader_crlf", "reader", "a: 1\r\n---\r\nb: 2\r\n"),
    ("reader_error_in_second", "reader", "a: 1\n---\nb: [1\n"),
    (
        "reader_crd_enum_with_value_tag_char",
        "reader",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: matchers.example.com\nspec:\n  group: example.com\n"
        "  names: {kind: Matcher, plural: matchers}\n  scope: Namespaced\n  versions:\n"
        "  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
        "        type: object\n        properties:\n          op:\n            type: string\n"
        "            enum:\n            - =\n            - '!='\n"
        "            - =~\n            - '!~'\n",
    ),
]

CHARTS: list[Case] = [
    (
        "chart_deployment",
        "helm",
        "---\n# Source: app/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: web\n  labels: {app: web, tier: on}\nspec:\n  replicas: 02\n"
        "  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n"
        "        ports: [{containerPort: 8080}]\n        env:\n"
        '        - {name: DEBUG, value: "yes"}\n'
        '        - {name: RATIO, value: "1e3"}\n      volumes:\n      - name: cfg\n'
        "        configMap: {name: web, defaultMode: 0644}\n      - name: s\n"
        "        secret: {secretName: web, defaultMode: 0o440}\n",
    ),
    (
        "chart_tcp_services_configmap",
        "helm",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tcp-services\ndata:\n"
        '  9000: "default/svc:80"\n  "9001": "default/other:81"\n',
    ),
    (
        "chart_configmap_times",
        "helm",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: backup}\ndata:\n"
        "  backup_time: 22:00\n  release-date: 2024-01-15\n  bad-date: 2024-02-30\n",
    ),
    (
        "chart_anchored_values",
        "helm",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &labels {app: p, release: r}\n"
        "  annotations:\n    <<: *labels\n    checksum: abc\nspec:\n  containers:\n"
        "  - &c {name: a, image: busybox, args: [sleep, '3600']}\n  - {<<: *c, name: b}\n",
    ),
    (
        "chart_cronjob",
        "helm",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n"
        "  schedule: 0 0 * * *\n  suspend: no\n  jobTemplate: {spec: {backoffLimit: 0x3}}\n",
    ),
    (
        "chart_hpa",
        "helm",
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n"
        "spec:\n  minReplicas: 1\n  maxReplicas: 1e1\n  metrics:\n  - type: Resource\n"
        "    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80.0}}\n",
    ),
    (
        "chart_list_kind",
        "helm",
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {on: off}}\n",
    ),
    (
        "chart_secret",
        "helm",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n"
        "stringData:\n  password: 0123\n  token: !!binary c2VjcmV0\ndata:\n  key: c2VjcmV0\n",
    ),
    (
        "chart_two_sources",
        "helm",
        "---\n# Source: app/templates/a.yaml\napiVersion: v1\nkind: ServiceAccount\n"
        "metadata: {name: sa}\n---\n# Source: app/templates/b.yaml\n# nothing rendered\n"
        "---\n# Source: app/templates/c.yaml\napiVersion: v1\nkind: Service\n"
        "metadata: {name: svc}\nspec:\n  ports: [{port: 80, targetPort: http}]\n",
    ),
    (
        "chart_ingress_annotations",
        "helm",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/ssl-redirect: "false"\n    proxy-body-size: 8m\n'
        "    enable-cors: true\n    weight: 0.5\nspec:\n  rules:\n  - host: x.example.com\n",
    ),
    (
        "chart_webhook_ca_bundle",
        "helm",
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata: {name: w}\nwebhooks:\n- name: v.example.com\n  clientConfig:\n"
        "    caBundle: LS0tLS1CRUdJTg==\n    service: {name: s, namespace: n, port: 443}\n"
        "  sideEffects: None\n  admissionReviewVersions: [v1]\n  timeoutSeconds: 010\n",
    ),
    (
        "chart_prometheus_rule",
        "helm",
        "apiVersion: monitoring.example.com/v1\nkind: Rule\nmetadata: {name: r}\nspec:\n"
        "  expr: 'rate(x[5m]) > 0.5'\n  for: 10m\n  labels: {severity: warning, page: no}\n"
        "  description: >-\n    {{ $value }} is high\n",
    ),
    (
        "chart_statefulset_storage",
        "helm",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n"
        "  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n"
        "      resources: {requests: {storage: 8Gi}}\n      accessModes: [ReadWriteOnce]\n"
        "  updateStrategy: {rollingUpdate: {partition: 0}}\n  podManagementPolicy: Parallel\n",
    ),
]

DEPTH: list[Case] = [
    ("depth_flow_too_deep", "helm", "a: " + "[" * 10001 + "]" * 10001 + "\n"),
    ("depth_flow_500", "helm", "a: " + "[" * 500 + "]" * 500 + "\n"),
    (
        "depth_block_60",
        "helm",
        "".join(f"{'  ' * i}k{i}:\n" for i in range(60)) + "  " * 60 + "v\n",
    ),
    ("depth_flow_1500", "doc", "[" * 1500 + "]" * 1500 + "\n"),
    ("depth_flow_10000", "doc", "[" * 10000 + "]" * 10000 + "\n"),
    ("depth_flow_10001_top", "doc", "[" * 10001 + "]" * 10001 + "\n"),
    ("depth_flow_maps_3000", "helm", "a: " + "{k: " * 3000 + "v" + "}" * 3000 + "\n"),
    ("depth_block_maps_1200", "doc", _block_maps(1200)),
    ("depth_compact_seqs_10000", "doc", "- " * 10000 + "x\n"),
    ("depth_compact_seqs_10001", "doc", "- " * 10001 + "x\n"),
    ("depth_compact_seqs_in_map_9999", "helm", "a:\n" + "- " * 9999 + "x\n"),
    (
        "depth_block_then_flow",
        "doc",
        "".join(" " * i + "k:\n" for i in range(1200))
        + " " * 1200
        + "[" * 1200
        + "]" * 1200
        + "\n",
    ),
    ("depth_second_document_too_deep", "doc", "a: 1\n---\n" + "[" * 10001 + "]" * 10001 + "\n"),
    ("depth_first_of_two_documents", "doc", "---\n" + "- " * 10001 + "x\n---\nb: 1\n"),
    ("depth_brackets_in_strings", "doc", "a: '" + "[" * 12000 + "'\nb: [1]\n"),
    # Within go-yaml's limits, JSON nested past encoding/json's 10000 levels is refused when
    # it is decoded (yamlref decodes it, as every reader of the converted document does).
    ("depth_json_flow_under_key", "helm", "a: " + "[" * 10000 + "]" * 10000 + "\n"),
    ("depth_json_flow_under_key_9999", "helm", "a: " + "[" * 9999 + "]" * 9999 + "\n"),
    ("depth_json_block_and_flow", "doc", "- " * 6000 + "[" * 4001 + "]" * 4001 + "\n"),
    ("depth_json_block_and_flow_10000", "doc", "- " * 6000 + "[" * 4000 + "]" * 4000 + "\n"),
    (
        "depth_json_maps_and_flow",
        "doc",
        _block_maps(300)[:-2] + "{a: " * 9701 + "b" + "}" * 9701 + "\n",
    ),
    ("depth_json_past_libyaml", "doc", _chain_then(20, 9981, 10000)),
    ("depth_json_past_libyaml_reader", "reader", _chain_then(20, 9981, 10000)),
]

SYNTAX: list[Case] = [
    ("err_unclosed_flow", "helm", "a: [1, 2\n"),
    ("err_bad_indent", "helm", "a:\n  b: 1\n c: 2\n"),
    ("err_mapping_in_plain", "helm", "a: b: c\n"),
    ("err_tab_indent", "helm", "a:\n\tb: 1\n"),
    ("err_unclosed_quote", "helm", 'a: "x\n'),
    ("err_template_leftover", "helm", "a: {{ .Values.x }}\n"),
    ("err_tab_in_flow_ok", "helm", "a: [1,\t2]\n"),
    ("tab_before_first_key", "helm", "\ta: 1\n---\n\t\n  \tb: 2\n"),
    ("tab_on_blank_line_inside", "helm", "a: 1\n\t\nb: 2\n"),
    ("tab_before_comment_line", "helm", "a: 1\n\t# comment\n"),
]

PATTERNS: list[Case] = [
    ("block_indent_indicator", "helm", "a: |2\n    indented\n  x\nb: >1\n  two\n"),
    ("block_indent_and_strip", "helm", "a: |2-\n   x\n\nb: |-1\n  y\n"),
    ("block_folded_keep", "helm", "a: >+\n  x\n\n\nb: 1\n"),
    ("block_folded_more_indented", "helm", "a: >\n  x\n    more\n  y\n\n  z\n"),
    ("block_clip_trailing_blank_lines", "helm", "a: |\n  x\n\n\n"),
    ("block_keep_before_next_document", "helm", "a: |+\n  x\n\n---\nb: |+\n  y\n"),
    ("block_separator_indented", "helm", "data:\n  script: |\n    ---\n    echo hi\n    ---\n"),
    ("block_separator_ends_scalar", "helm", "a: |\n  x\n---\nb: 1\n"),
    ("block_separator_in_reader", "reader", "a: |\n  x\n  --- y\n---\nb: 2\n"),
    ("block_comment_after_pipe", "helm", "a: | # the script\n  x\nb: >- # folded\n  y\n  z\n"),
    ("block_hash_inside", "helm", "a: |\n  # not a comment\n  x # nor this\n"),
    ("block_tabs_inside", "helm", "a: |\n  \tx\n  y\t\n  \t\nb: 1\n"),
    ("block_crlf", "helm", "a: |\r\n  x\r\n  y\r\nb: >\r\n  p\r\n  q\r\n"),
    ("block_document_root", "helm", "--- |\n  just text\n"),
    ("block_less_indented_comment", "helm", "a: |\n    x\n  # out\nb: 1\n"),
    ("tab_before_comment", "helm", "a: 1\t# c\nb: x\t\n"),
    ("tab_inside_plain", "helm", "a: b\tc\nd: [e\t, f]\n"),
    ("crlf_quoted_multiline", "helm", "a: \"x\r\n  y\"\r\nb: 'p\r\n\r\n  q'\r\n"),
    ("crlf_bom_multi_document", "helm", "\ufeffa: 1\r\n---\r\nb: 2\r\n"),
    ("bom_doc_mode", "doc", "\ufeffa: 1\n"),
    ("bom_second_document", "helm", "a: 1\n---\n\ufeffb: 2\n"),
    ("bom_reader", "reader", "\ufeffa: 1\n---\nb: 2\n"),
    ("long_line_value", "helm", "a: " + "x" * 200_000 + "\nb: 1\n"),
    ("long_base64_data", "helm", "data:\n  f: " + "QUJD" * 50_000 + "\n"),
    ("long_key_over_simple_key_limit", "helm", "k" * 1100 + ": v\n"),
    ("long_key_quoted_explicit", "helm", "? " + "k" * 1100 + "\n: v\n"),
    ("empty_documents_between", "helm", "---\n---\na: 1\n---\n\n---\n# c\n---\n"),
    ("empty_documents_doc_mode", "doc", "---\n# nothing\n"),
    ("document_end_then_start", "helm", "a: 1\n...\n---\nb: 2\n"),
    ("document_end_with_comment", "helm", "a: 1\n... # done\n"),
    ("document_end_after_block", "helm", "a: |\n  x\n...\n"),
    ("document_end_alone", "helm", "...\n"),
    ("anchor_across_documents", "helm", "a: &x 1\n---\nb: *x\n"),
    ("anchor_across_documents_reader", "reader", "a: &x 1\n---\nb: *x\n"),
    ("anchor_across_documents_doc", "doc", "a: &x 1\n---\nb: *x\n"),
    ("keys_numbers_mixed", "helm", "1: a\n2.5: b\n0x1F: c\n1e3: d\n0777: e\n-0: f\n+1: g\n"),
    ("keys_bools_in_selector", "helm", "nodeSelector:\n  on: true\n  yes: 1\n  'no': n\n"),
    ("keys_ports_map", "helm", "ports:\n  80: http\n  443: https\n  8_080: alt\n"),
    ("key_trailing_space", "helm", "a : 1\nb  :  2\n"),
    ("checksum_annotations", "helm", "checksum/config: 1234e5678\nsha: 0123e45\nb: 4e1\n"),
    ("image_tags", "helm", "a: 1.10\nb: 1.20.0\nc: 010\nd: 1_0\ne: 0x1234abcd\nf: v1.2\n"),
    (
        "resources_quantities",
        "helm",
        "limits: {cpu: 0.5, memory: 512Mi}\nrequests: {cpu: 500m, x: 1e-3}\n",
    ),
    (
        "env_values_mixed",
        "helm",
        "env:\n- {name: A, value: yes}\n- {name: B, value: '1'}\n- {name: C, value: 1}\n",
    ),
    ("values_anchor_merge", "doc", "global: &g {a: 1, b: 2}\nsub:\n  <<: *g\n  b: 3\n"),
    ("seq_same_column_as_key", "helm", "containers:\n- name: a\n  ports:\n  - 80\n  - name: x\n"),
    ("flow_map_multiline", "helm", "a: {b: 1,\n  c: 2,\n  }\nd: [1,\n 2]\n"),
    ("plain_continuation_with_colon", "helm", "command: sh -c\n  echo a: b\n"),
    ("comment_indented_oddly", "helm", "a: 1\n   # indented comment\nb: 2\n      # another\n"),
    ("comment_then_separator", "helm", "# Source: x.yaml\n---\na: 1\n"),
    ("escaped_line_break", "helm", 'a: "x\\\n  y"\nb: "p\\\n\n  q"\n'),
    ("trailing_spaces_plain", "helm", "a: x   \nb: 'y'   \n"),
    ("nested_compact_sequences", "helm", "- - a\n  - b\n- c\n- - - d\n"),
    ("null_in_list_of_maps", "helm", "- a:\n  b: 1\n- ? c\n"),
    (
        "json_document",
        "helm",
        '{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": 2}}\n',
    ),
    ("reader_trailing_separator", "reader", "a: 1\n---\n...\n---\n"),
]

GAPS: list[Case] = [
    ("tag_empty_nonspecific", "helm", "a: ! 3\nb: ! yes\nc: ! ~\nd: !  0x10\n"),
    ("tag_empty_in_list", "helm", "- ! 3\n- !\n- ! [1]\n- ! 'q'\n"),
    ("tag_empty_on_key_and_anchor", "helm", "! 5: a\nb: &x ! 12\nc: *x\n"),
    ("tag_empty_in_flow", "helm", "a: [! 1, ! true, 2]\nb: {! 3: ! 4}\n"),
    ("tag_brackets_block", "helm", "a: !a[b] 1\nb: !a,b 2\nc: !x] 3\n"),
    ("tag_comma_in_flow", "helm", "a: [!a,b]\n"),
    ("tag_bracket_in_flow_map", "helm", "a: {k: !t] 1}\n"),
    ("tag_then_blank_in_flow", "helm", "a: [!t , b, !u c]\n"),
    ("tag_brackets_on_map", "helm", "a: !x[1] {b: 2}\n"),
    ("tag_bang_in_strings", "helm", "a: '!a,b'\nb: \"!x[1]\"\nc: x!a[b]\n"),
    ("flow_then_mapping", "helm", "[a]\nb: 1\n"),
    ("flow_then_text", "doc", "{a: 1} x\n"),
    ("flow_then_flow", "doc", "[a], [b]\n"),
    ("flow_then_sequence", "doc", "[a]\n- b\n"),
    ("flow_then_comment", "helm", "[a] # c\n"),
    ("flow_then_document", "helm", "{a: 1}\n--- {b: 2}\n"),
    ("flow_then_mapping_reader", "reader", "[a]\nb: 1\n"),
    ("quoted_then_text", "doc", '"x" y\n'),
    ("utf8_leading_octet", "doc", b"a: \xff\n"),
    ("utf8_continuation_first", "doc", b"a: \x80\n"),
    ("utf8_trailing_octet", "doc", b"a: \xc3\x28\n"),
    ("utf8_overlong", "doc", b"a: \xc0\x80\n"),
    ("utf8_overlong_three", "doc", b"a: \xe0\x80\x80\n"),
    ("utf8_surrogate", "doc", b"a: \xed\xa0\x80\n"),
    ("utf8_beyond_unicode", "doc", b"a: \xf5\x80\x80\x80\n"),
    ("utf8_incomplete_at_end", "doc", b"a: \xe2\x82"),
    ("utf8_in_second_document", "doc", b"a: 1\n---\nb: \xff\n"),
    ("utf8_in_comment", "doc", b"a: 1 # \xfe\n"),
    # go-yaml decodes 512-byte buffers until the first document has ended (its `---` or
    # `...` and one character more): bytes in a later buffer are never read.
    ("utf8_last_byte_of_buffer_read", "doc", b"a: 1\n---\nb: " + b"x" * 499 + b"\xff\n"),
    ("utf8_next_buffer_not_read", "doc", b"a: 1\n---\nb: " + b"x" * 500 + b"\xff\n"),
    ("utf8_far_past_first_document", "doc", b"a: 1\n---\nb: " + b"x" * 3000 + b"\xfe"),
    ("utf8_sequence_cut_by_buffer", "doc", b"a: 1\n---\nb: " + b"x" * 499 + b"\xc3\x28\n"),
    ("utf8_after_document_end", "doc", b"a: 1\n...\n" + b"x" * 600 + b"\xff\n"),
    ("utf8_bom_buffer_counted", "doc", b"\xef\xbb\xbfa: 1\n---\nb: " + b"x" * 496 + b"\xff"),
    ("utf8_bom_next_buffer", "doc", b"\xef\xbb\xbfa: 1\n---\nb: " + b"x" * 497 + b"\xff"),
    ("utf8_incomplete_after_document", "doc", b"a: 1\n---\nb: \xe2\x82"),
    (
        "utf8_long_first_document_read",
        "doc",
        ("a: " + "\u00e9" * 400 + "\n---\nb: ").encode() + b"x" * 100 + b"\xff",
    ),
    (
        "utf8_long_first_document_not_read",
        "doc",
        ("a: " + "\u00e9" * 400 + "\n---\nb: ").encode() + b"x" * 300 + b"\xff",
    ),
    ("utf8_comment_before_separator", "doc", b"a: 1\n# " + b"c" * 600 + b"\n---\n\xff"),
]

# Cases whose error must also read as Go's (the problem, without "yaml: " and the line).
SAME_ERROR_TEXT = frozenset(
    {
        "depth_flow_too_deep",
        "depth_flow_10001_top",
        "depth_compact_seqs_10001",
        "depth_json_flow_under_key",
        "depth_json_block_and_flow",
        "depth_json_maps_and_flow",
        "depth_json_past_libyaml",
        "tag_comma_in_flow",
        *(name for name, _, _ in GAPS if name.startswith("utf8_")),
    }
)

CASES: list[Case] = [
    *BOOLEANS,
    *NULLS,
    *INTS,
    *FLOATS,
    *SEXAGESIMAL,
    *TIMESTAMPS,
    *STRINGS,
    *MERGES,
    *ANCHORS,
    *KEYS,
    *TAGS,
    *DOCUMENTS,
    *READER,
    *CHARTS,
    *DEPTH,
    *SYNTAX,
    *GAPS,
    *PATTERNS,
]
