package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
)

// serveHTTP routes the fake kube-apiserver's requests. Anything else the
// provider asks for is logged to stderr and answered 404, so that a new
// call shows up at once. There is no authentication: client-go sends a
// kubeconfig's token only over TLS.
func (k *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/pods":
		if sel := r.URL.Query().Get("fieldSelector"); sel != nodeSelector {
			fmt.Fprintf(os.Stderr, "fake kube-apiserver: pods with fieldSelector %q, want %q\n", sel, nodeSelector)
		}
		if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
			k.watch(w, r)
		} else {
			k.list(w)
		}
	case len(segs) >= 5 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "namespaces" && segs[4] == "secrets":
		k.secret(w, r, segs[3], segs[5:])
	default:
		fmt.Fprintf(os.Stderr, "fake kube-apiserver: unexpected %s %s\n", r.Method, r.URL.RequestURI())
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "not served by the bench")
	}
}

func (k *Server) list(w http.ResponseWriter) {
	k.mu.Lock()
	k.lists++
	l := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(k.rv, 10)}, Items: []corev1.Pod{}}
	for _, p := range k.pods {
		l.Items = append(l.Items, *p)
	}
	k.mu.Unlock()
	writeJSON(w, http.StatusOK, &l)
}

// watch streams the events after the requested resource version (for ""
// or "0": an ADDED event per existing pod first, and with sendInitialEvents
// a bookmark marking their end), one JSON object a line,
// flushed per event, until the client goes, the bench closes the server or
// the client's timeoutSeconds pass, as the API server does.
func (k *Server) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout := maxWatchTimeout
	if s, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && s > 0 {
		timeout = time.Duration(s) * time.Second
	}
	var pending []watchEvent
	k.mu.Lock()
	k.watches++
	k.open++
	next := len(k.events)
	switch rv := q.Get("resourceVersion"); rv {
	case "", "0":
		for _, p := range k.pods {
			pending = append(pending, watchEvent{typ: "ADDED", pod: p})
		}
		// A list streamed through the watch (client-go's WatchListClient,
		// on by default since v0.35): the initial events end with a bookmark.
		if q.Get("sendInitialEvents") == "true" {
			pending = append(pending, watchEvent{typ: "BOOKMARK", pod: &corev1.Pod{
				TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
				ObjectMeta: metav1.ObjectMeta{ResourceVersion: strconv.FormatInt(k.rv, 10),
					Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}},
			}})
		}
	default:
		from, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || from > k.rv {
			k.open--
			k.mu.Unlock()
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad resourceVersion "+rv)
			return
		}
		for next > 0 && k.events[next-1].rv > from {
			next--
		}
	}
	k.mu.Unlock()
	defer func() { k.mu.Lock(); k.open--; k.mu.Unlock() }()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w) // one object a line
	end := time.After(timeout)
	for {
		k.mu.Lock()
		pending = append(pending, k.events[next:]...)
		next = len(k.events)
		changed := k.changed
		k.mu.Unlock()
		for _, e := range pending {
			if err := enc.Encode(map[string]any{"type": e.typ, "object": e.pod}); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		pending = pending[:0]
		select {
		case <-changed:
		case <-end:
			return
		case <-r.Context().Done():
			return
		case <-k.done:
			return
		}
	}
}

// secret serves GET namespaces/NS/secrets/NAME and POST namespaces/NS/secrets.
func (k *Server) secret(w http.ResponseWriter, r *http.Request, ns string, rest []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && len(rest) == 1:
		if s, ok := k.secrets[ns+"/"+rest[0]]; ok {
			writeJSON(w, http.StatusOK, s)
			return
		}
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("secrets %q not found", rest[0]))
	case r.Method == http.MethodPost && len(rest) == 0:
		// client-go sends built-in types as protobuf; the deserializer
		// reads that and JSON alike.
		var s corev1.Secret
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, &s)
		}
		if err != nil || s.Name == "" || (s.Namespace != "" && s.Namespace != ns) {
			fmt.Fprintf(os.Stderr, "fake kube-apiserver: bad Secret in POST %s (%s): %v\n", r.URL.Path, r.Header.Get("Content-Type"), err)
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("bad Secret: %v", err))
			return
		}
		if _, ok := k.secrets[ns+"/"+s.Name]; ok {
			writeStatus(w, http.StatusConflict, metav1.StatusReasonAlreadyExists, fmt.Sprintf("secrets %q already exists", s.Name))
			return
		}
		k.rv++
		s.TypeMeta = metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"}
		s.Namespace, s.ResourceVersion, s.CreationTimestamp = ns, strconv.FormatInt(k.rv, 10), metav1.Now()
		s.UID = types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", k.rv))
		k.secrets[ns+"/"+s.Name] = &s
		writeJSON(w, http.StatusCreated, &s)
	default:
		fmt.Fprintf(os.Stderr, "fake kube-apiserver: unexpected %s %s\n", r.Method, r.URL.RequestURI())
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "not served by the bench")
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // a write error means the client went away
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg})
}
