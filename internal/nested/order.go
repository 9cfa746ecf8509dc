package nested

import (
	"fmt"
	"sort"
)

// homogeneous reports whether l holds only numbers or only strings.
func homogeneous(l []any) (numbers, ok bool) {
	if len(l) == 0 {
		return false, true
	}
	numbers = isNumber(l[0])
	for _, e := range l {
		isNum := isNumber(e)
		_, isStr := e.(string)
		if (numbers && !isNum) || (!numbers && !isStr) {
			return false, false
		}
	}
	return numbers, true
}

// keyed is an element of an ordered list with its number parsed once.
type keyed struct {
	v any
	f float64
}

// sortKeys parses the numbers of a homogeneous list once, charging each,
// so that ordering compares floats; strings are compared as they are.
func (in *interp) sortKeys(numbers bool, l []any) ([]keyed, error) {
	if err := in.hold(2 * len(l)); err != nil {
		return nil, err
	}
	out := make([]keyed, len(l))
	for i, e := range l {
		out[i].v = e
		if numbers {
			f, _, err := in.number(e)
			if err != nil {
				return nil, err
			}
			out[i].f = f
		} else if err := in.spendBytes(len(e.(string))); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// less orders two elements of a homogeneous list.
func less(numbers bool, a, b keyed) bool {
	if numbers {
		return a.f < b.f
	}
	return a.v.(string) < b.v.(string)
}

// orderedList is the argument of max, min and sort: an array of numbers
// only, or of strings only; numbers says which.
func orderedList(name string, a []any) (l []any, numbers bool, err error) {
	l, ok := a[0].([]any)
	if !ok {
		return nil, false, typeErr(name, 1, a[0], "an array of numbers or of strings")
	}
	if numbers, ok = homogeneous(l); !ok {
		return nil, false, fmt.Errorf("%w: %s argument 1 mixes types, want an array of numbers or of strings", ErrType, name)
	}
	return l, numbers, nil
}

func fnMinMax(in *interp, name string, a []any) (any, error) {
	l, numbers, err := orderedList(name, a)
	if err != nil {
		return nil, err
	}
	if err := in.spend(len(l) + 1); err != nil || len(l) == 0 {
		return nil, err
	}
	ks, err := in.sortKeys(numbers, l)
	if err != nil {
		return nil, err
	}
	best := ks[0]
	for _, e := range ks[1:] {
		if (name == "max") == less(numbers, best, e) {
			best = e
		}
	}
	return best.v, nil
}

func fnSort(in *interp, name string, a []any) (any, error) {
	l, numbers, err := orderedList(name, a)
	if err != nil {
		return nil, err
	}
	if err := in.spend(sortCost(len(l))); err != nil {
		return nil, err
	}
	ks, err := in.sortKeys(numbers, l)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ks, func(i, j int) bool { return less(numbers, ks[i], ks[j]) })
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k.v
	}
	return out, nil
}
