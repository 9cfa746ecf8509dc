package main

import "time"

// rssWatch samples a provider's RSS, keeps the peak and kills the provider
// above the guard.
type rssWatch struct {
	max    float64
	killed chan struct{}
	done   chan struct{}
	quit   chan struct{}
	pid    int
}

func watchRSS(p *provider, guardMiB float64) *rssWatch {
	w := &rssWatch{killed: make(chan struct{}), done: make(chan struct{}), quit: make(chan struct{}), pid: p.PID()}
	// sample reports false once the guard has killed the provider.
	sample := func() bool {
		rss, err := rssMiB(p.PID())
		if err != nil {
			return true
		}
		w.max = max(w.max, rss)
		if rss > guardMiB {
			p.Kill()
			close(w.killed)
			return false
		}
		return true
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(rssSampleTick)
		defer t.Stop()
		for sample() {
			select {
			case <-w.quit:
				sample() // an answer faster than a tick still counts
				return
			case <-p.Exited():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// peak stops the sampling and returns the peak RSS: the kernel's high
// water mark (VmHWM) while the provider runs, else the highest sample. Call
// it only from the goroutine that started the watch.
func (w *rssWatch) peak() float64 {
	w.stopSampling()
	if hwm, err := hwmMiB(w.pid); err == nil {
		return max(w.max, hwm)
	}
	return w.max
}

func (w *rssWatch) stopSampling() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}
