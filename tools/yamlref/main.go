// Command yamlref reads YAML on stdin and prints what Go's Kubernetes stack makes of it,
// as JSON: the reference helmguard's YAML reader is tested against.
//
// Usage: yamlref MODE < input
//
//	helm    split like Helm's releaseutil.SplitManifests, then sigs.k8s.io/yaml.YAMLToJSON
//	        per document (how rendered templates are read)
//	reader  apimachinery's YAMLOrJSONDecoder (YAMLReader separator rules), as the
//	        resource builder reads a crds/ file; empty and null documents are skipped
//	doc     the whole input as one document, sigs.k8s.io/yaml.YAMLToJSON (values, kubeconfig)
//
// Output: a JSON array with one entry per document, {"json": ...} or {"error": "..."};
// in reader mode an error ends the stream, as it ends the builder's.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Helm v4's document separator (pkg/release/v1/util.SplitManifests): a line starting
// with `---`; the whitespace before it stays with the previous document.
var helmSeparator = regexp.MustCompile(`(?m)^---[ \t]*`)

type result struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	Error string          `json:"error,omitempty"`
}

// convert reads one document as sigs.k8s.io/yaml.Unmarshal does: YAMLToJSON, then the JSON
// decoded, which refuses nesting deeper than encoding/json's 10000 levels (every reader of
// the result decodes it: Helm's manifest sorting, the resource builder, the API server).
func convert(doc []byte) result {
	out, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return result{Error: err.Error()}
	}
	if err := json.Unmarshal(out, new(json.RawMessage)); err != nil {
		return result{Error: err.Error()}
	}
	return result{JSON: out}
}

func helmDocuments(input string) []result {
	var results []result
	for _, doc := range helmSeparator.Split(strings.TrimLeftFunc(input, unicode.IsSpace), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		results = append(results, convert([]byte(strings.TrimLeftFunc(doc, unicode.IsSpace))))
	}
	return results
}

func readerDocuments(input []byte) []result {
	results := []result{}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(input), 4096)
	for {
		var raw json.RawMessage
		err := decoder.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return results
		}
		if err != nil {
			return append(results, result{Error: err.Error()})
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		results = append(results, result{JSON: raw})
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: yamlref helm|reader|doc < input")
		os.Exit(2)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var results []result
	switch os.Args[1] {
	case "helm":
		results = helmDocuments(string(input))
	case "reader":
		results = readerDocuments(input)
	case "doc":
		results = []result{convert(input)}
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	if results == nil {
		results = []result{}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
