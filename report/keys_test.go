package report

import (
	"sort"
)

// keyPaths lists every key path in a decoded JSON value, array indices
// dropped ("/intervals/streams/bytes"), sorted.
func keyPaths(v any) []string {
	set := map[string]bool{}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				set[p+"/"+k] = true
				walk(c, p+"/"+k)
			}
		case []any:
			for _, c := range v {
				walk(c, p)
			}
		}
	}
	walk(v, "")
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
