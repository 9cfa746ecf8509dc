package spc

import (
	"fmt"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// ParamsError lists every problem found in the parameters, so that one
// failed mount tells the user everything to fix. Its message is bounded: the
// first problems, each shortened, and how many more there are.
type ParamsError struct {
	Problems []string
	// More counts the problems found beyond those kept.
	More int
}

func (e *ParamsError) Error() string {
	return "invalid SecretProviderClass parameters: " + joinBounded(e.Problems, e.More)
}

// maxKeptProblems bounds the problems kept: a hostile class can have one
// per YAML node.
const maxKeptProblems = 100

// problems collects the messages that end up in a ParamsError, and the
// mount's account, whose refusal ends the parse.
type problems struct {
	list    []string
	dropped int
	acct    *account.Account
	stop    error
}

// charge charges n bytes and work units to the account before they are
// spent; false once the account has refused, and the parse ends.
func (p *problems) charge(bytes, work int, what string) bool {
	if p.stop == nil {
		if p.stop = p.acct.Work(work, what); p.stop == nil {
			p.stop = p.acct.Charge(bytes, what)
		}
	}
	return p.stop == nil
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) >= maxKeptProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, Truncate(fmt.Sprintf(format, args...), maxProblemBytes))
}

// err is the ParamsError of the problems found, nil if none.
func (p *problems) err() error {
	if p.stop != nil {
		return p.stop
	}
	if len(p.list) == 0 {
		return nil
	}
	return &ParamsError{Problems: p.list, More: p.dropped}
}
