package spc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
)

// Plan is a class parsed for mounting: the distinct Vault requests, each
// sent once per mount however many objects use it, and the outputs that
// make files of their responses. It is built once per class and shared by
// every mount of it, so it is never modified after parsing.
type Plan struct {
	Requests []*Request
	Outputs  []*Output
	// Templates is set when an output is a template.
	Templates bool
	// Bytes is what the plan holds in memory: its requests (bodies and keys
	// included), outputs, IDs, parsed templates and expressions.
	Bytes int
}

// Request is one distinct Vault request of a class.
type Request struct {
	Method string
	Path   string
	Query  url.Values // nil for none
	// Body is the JSON of secretArgs, nil for none.
	Body []byte
	// Key identifies the request: equal requests have equal keys and no two
	// different ones share a key, whatever their fields contain.
	Key string
	// Label names the first object that reads it, for messages.
	Label string
	// Optional is set when every object that reads it is optional, so a
	// missing secret there leaves their files out rather than failing.
	Optional bool
}

// Output is one object of the class with what it reads.
type Output struct {
	Object
	// Label names the object in messages.
	Label string
	// Request is what the object reads; nil for a template.
	Request *Request
	// Expr is the compiled jmesPath, nil for none.
	Expr *nested.Expr
	// Tmpl is the parsed template of a template object.
	Tmpl *tmpl.Template
	// ID identifies everything that shapes the output's content besides
	// the secrets themselves, for its files' versions.
	ID []byte
}

// buildPlan gathers the objects' requests, one per distinct request. What
// it makes is charged to the account first; objects that share a template
// or a jmesPath by alias share its parsed form, so an alias costs one parse.
func buildPlan(objs []Object, labels []string, lim Limits, probs *problems) *Plan {
	plan := &Plan{}
	byKey := map[string]*Request{}
	exprs := map[string]*nested.Expr{}
	tmpls := map[string]*tmpl.Template{}
	// hold charges what the plan keeps, and counts it in plan.Bytes.
	hold := func(n int, what string) bool {
		plan.Bytes += n
		return probs.charge(n, n, what)
	}
	for i, o := range objs {
		out := &Output{Object: o, Label: labels[i]}
		plan.Outputs = append(plan.Outputs, out)
		// The object's strings and decoded secretArgs were charged as they
		// were parsed; the plan keeps them, so they count in its size.
		plan.Bytes += argsBytes(o.Args)
		if !hold(planEntryBytes+len(labels[i])+len(o.Name)+len(o.Path)+len(o.Key)+len(o.JMESPath)+
			stringsBytes(o.Keys), labels[i]) {
			return plan
		}
		if o.JMESPath != "" {
			if out.Expr = exprs[o.JMESPath]; out.Expr == nil {
				if !hold(parseBytesPerByte*len(o.JMESPath), labels[i]+": jmesPath") {
					return plan
				}
				var err error
				if out.Expr, err = nested.Compile(o.JMESPath); err != nil {
					probs.add("%s: jmesPath: %v", labels[i], err)
				}
				exprs[o.JMESPath] = out.Expr
			}
		}
		if o.Kind() == KindTemplate {
			plan.Templates = true
			// The ID holds the source, so that versions stay as they were
			// across upgrades; each alias of a long template pays for it.
			out.ID = LengthPrefixed("template", o.Name, o.Template)
			if !hold(len(out.ID), labels[i]) {
				return plan
			}
			if t, ok := tmpls[o.Template]; ok {
				out.Tmpl = t
				continue
			}
			if !hold(parseBytesPerByte*len(o.Template), labels[i]+": template") {
				return plan
			}
			var err error
			// Its messages start with the name given here.
			if out.Tmpl, err = tmpl.Parse("template", o.Template, tmpl.Limits{SourceBytes: lim.TemplateBytes}); err != nil {
				probs.add("%s: %v", labels[i], err)
			}
			tmpls[o.Template] = out.Tmpl
			continue
		}
		var body []byte
		if o.Args != nil {
			// The encoding and what encoding it leaves behind; only the
			// body is kept (in the request and its key, below).
			if n := account.MarshalBytes(o.Args); !probs.charge(n, n, labels[i]+": secretArgs") {
				return plan
			}
			var err error
			// parseArgs has made them fit for JSON; this cannot fail.
			if body, err = json.Marshal(o.Args); err != nil {
				probs.add("%s: secretArgs cannot be sent as JSON", labels[i])
				continue
			}
			if len(body) > lim.SecretArgsBytes {
				argsTooLarge(probs, labels[i], strconv.Itoa(len(body)), lim.SecretArgsBytes)
				continue
			}
		}
		query := o.Query.Encode()
		key := string(LengthPrefixed(o.Method, o.Path, query, string(body)))
		r, ok := byKey[key]
		if !ok {
			// The body, the key that holds it again, and the query.
			if !hold(planEntryBytes+2*len(body)+len(key)+2*len(query), labels[i]+": request") {
				return plan
			}
			r = &Request{Method: o.Method, Path: o.Path, Query: o.Query, Body: body, Key: key, Label: labels[i], Optional: true}
			byKey[key] = r
			plan.Requests = append(plan.Requests, r)
		}
		r.Optional = r.Optional && o.Optional
		out.Request = r
		out.ID = LengthPrefixed(fmt.Sprint(o.Kind()), o.Name, o.Key, o.JMESPath, string(o.Encoding), string(o.Shape),
			string(LengthPrefixed(o.Keys...)), key)
		if !hold(len(out.ID), labels[i]) {
			return plan
		}
	}
	return plan
}

// argsBytes is what decoded secretArgs hold.
func argsBytes(args map[string]any) int {
	if args == nil {
		return 0
	}
	return int(account.ValueBytes(args))
}

func stringsBytes(l []string) int {
	n := 0
	for _, s := range l {
		n += account.StringBytes + len(s)
	}
	return n
}

// LengthPrefixed encodes fields so that no two different lists give the
// same bytes, whatever the fields contain.
func LengthPrefixed(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// checkNames rejects two objects of one name, and files that collide: two
// objects writing the same file, or one writing a file where another needs
// a directory ("a" and "a/b"). A keysAsFiles object without a list of keys
// owns its whole directory, whose files are only known after reading; the
// mount checks those.
func checkNames(objs []Object, labels []string, probs *problems) {
	first := map[string]int{}
	for i, o := range objs {
		if o.Name == "" {
			continue
		}
		if j, dup := first[o.Name]; dup {
			probs.add("objectName %s is used by objects #%d and #%d: each objectName must be unique", Quote(o.Name), j+1, i+1)
			continue
		}
		first[o.Name] = i
	}
	type claim struct {
		path  string
		owner int
		dir   bool
	}
	var claims []claim        // in the class's order, for stable messages
	files := map[string]int{} // file path -> object
	dirs := map[string]int{}  // directory owned whole -> object
	for i, o := range objs {
		if o.Name == "" || first[o.Name] != i {
			continue
		}
		switch {
		case o.TemplateOnly:
		case o.KeysAsFiles && o.Keys == nil:
			dirs[o.Name] = i
			claims = append(claims, claim{o.Name, i, true})
		case o.KeysAsFiles:
			for _, k := range o.Keys {
				files[o.Name+"/"+k] = i
				claims = append(claims, claim{o.Name + "/" + k, i, false})
			}
		default:
			files[o.Name] = i
			claims = append(claims, claim{o.Name, i, false})
		}
	}
	clash := func(i int, path, parent string, j int) {
		what := "objectName"
		if path != objs[i].Name {
			what = "its file"
		}
		probs.add("%s: %s %s needs %s to be a directory, but %s writes a file there: rename one of them",
			labels[i], what, Quote(path), Quote(parent), labels[j])
	}
	for _, c := range claims {
		path, i := c.path, c.owner
		if c.dir {
			checkDir(c.path, c.owner, files, dirs, labels, probs, clash)
			continue
		}
		for k := 0; k < len(path); k++ {
			if path[k] != '/' {
				continue
			}
			if j, ok := files[path[:k]]; ok && j != i {
				clash(i, path, path[:k], j)
			}
			if j, ok := dirs[path[:k]]; ok && j != i {
				probs.add("%s: its file %s is inside %s, where %s writes every key of its secret: rename one of them",
					labels[i], Quote(path), Quote(path[:k]), labels[j])
			}
		}
		if j, ok := dirs[path]; ok && j != i {
			clash(j, path+"/…", path, i)
		}
	}
}

// checkDir reports what collides with directory dir, which object i owns
// whole.
func checkDir(dir string, i int, files, dirs map[string]int, labels []string, probs *problems, clash func(int, string, string, int)) {
	for k := 0; k < len(dir); k++ {
		if dir[k] != '/' {
			continue
		}
		if j, ok := files[dir[:k]]; ok && j != i {
			clash(i, dir, dir[:k], j)
		}
		if j, ok := dirs[dir[:k]]; ok && j != i {
			probs.add("%s: its directory %s is inside %s, where %s writes every key of its secret: rename one of them",
				labels[i], Quote(dir), Quote(dir[:k]), labels[j])
		}
	}
}

// CheckKeyFileName checks that a secret's key can be a file name of its
// own, inside a keysAsFiles directory.
func CheckKeyFileName(k string) error {
	if strings.Contains(k, "/") {
		return fmt.Errorf("key %s contains \"/\", which cannot be in a file name", Quote(k))
	}
	if err := ValidateFilePath(k); err != nil {
		return fmt.Errorf("key %s is not a safe file name: %v", Quote(k), err)
	}
	return nil
}
