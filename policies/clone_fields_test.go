package policies

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"
	"testing"
)

// The tests below hold Clone to every field of every intent type by
// reflection, so a field added later without a line in Clone fails here.

var intentType = reflect.TypeOf((*Intent)(nil)).Elem()

// fill sets every field reachable from v to a non-zero value derived from
// *n, nesting SafeTx.Inner (a Transfer, an Approve, a Swap, a ContractCall
// and a SafeTx with inner calls of its own) up to depth.
func fill(v reflect.Value, n *int, depth int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n, depth)
			}
		}
	case reflect.Pointer:
		if v.Type() == reflect.TypeOf((*big.Int)(nil)) {
			v.Set(reflect.ValueOf(big.NewInt(int64(*n) * 1_000_003)))
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n, depth)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem() == intentType {
			if depth == 0 {
				return
			}
			var items []Intent
			for _, x := range []Intent{Transfer{}, Approve{}, Swap{}, ContractCall{}, SafeTx{}} {
				p := reflect.New(reflect.TypeOf(x))
				fill(p.Elem(), n, depth-1)
				items = append(items, p.Elem().Interface().(Intent))
			}
			v.Set(reflect.ValueOf(items))
			return
		}
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := 0; i < 3; i++ {
			fill(s.Index(i), n, depth)
		}
		v.Set(s)
	case reflect.Interface:
		// only Intent slices hold interfaces
	default:
		panic("fill: " + v.Kind().String())
	}
}

func allIntents() []Intent {
	var out []Intent
	n := 0
	for _, x := range []Intent{Transfer{}, Approve{}, Swap{}, ContractCall{}, SafeTx{}} {
		p := reflect.New(reflect.TypeOf(x))
		fill(p.Elem(), &n, 2)
		out = append(out, p.Elem().Interface().(Intent))
	}
	return out
}

// leaves calls f with every settable leaf (string, number, bool, the value
// of a *big.Int, a byte of a slice) reachable from v, inner intents too.
func leaves(v reflect.Value, path string, f func(path string, leaf reflect.Value)) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				leaves(v.Field(i), path+"."+v.Type().Field(i).Name, f)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type() == reflect.TypeOf((*big.Int)(nil)) {
			f(path, v)
			return
		}
		leaves(v.Elem(), path, f)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			leaves(v.Index(i), fmt.Sprintf("%s[%d]", path, i), f)
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		// An intent held by value in an interface is not addressable: the
		// caller swaps in a pointer first (see mutable).
		leaves(v.Elem(), path, f)
	default:
		f(path, v)
	}
}

// mutable returns a copy of in whose inner intents are held by pointer, so
// every leaf, nested ones too, can be changed in place afterwards, as a
// caller holding pointers into its intent could.
func mutable(in Intent) Intent {
	p := reflect.New(reflect.TypeOf(in))
	p.Elem().Set(reflect.ValueOf(in))
	if s, ok := p.Interface().(*SafeTx); ok && s.Inner != nil {
		inner := make([]Intent, len(s.Inner))
		for i, x := range s.Inner {
			inner[i] = mutable(x)
		}
		s.Inner = inner
	}
	return p.Interface().(Intent)
}

func bump(path string, leaf reflect.Value) {
	switch leaf.Kind() {
	case reflect.String:
		leaf.SetString(leaf.String() + "!")
	case reflect.Bool:
		leaf.SetBool(!leaf.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		leaf.SetInt(leaf.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		leaf.SetUint(leaf.Uint() + 1)
	case reflect.Pointer: // *big.Int
		b := leaf.Interface().(*big.Int)
		b.Add(b, big.NewInt(1))
	default:
		panic(path)
	}
}

// TestCloneCoversEveryField: for each leaf of each
// fully populated intent, changing it (1) changes Marshal of the intent
// (the digest covers it), (2) changes Marshal of Clone taken after the
// change (Clone copies it), and (3) leaves Clone taken before the change
// as it was (Clone shares nothing with the original).
func TestCloneCoversEveryField(t *testing.T) {
	for _, base := range allIntents() {
		want, err := Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		probe := mutable(base)
		leaves(reflect.ValueOf(probe), string(base.Kind()), func(path string, _ reflect.Value) { count++ })
		for i := 0; i < count; i++ {
			x := mutable(Clone(base)) // a fresh deep copy to scribble on
			before := Clone(x)
			j := 0
			var changed string
			leaves(reflect.ValueOf(x), string(base.Kind()), func(path string, leaf reflect.Value) {
				if j == i {
					bump(path, leaf)
					changed = path
				}
				j++
			})
			got, err := Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, want) {
				t.Errorf("%s: changing it does not change the canonical encoding (the digest does not cover it)", changed)
			}
			if c, _ := Marshal(Clone(x)); !bytes.Equal(c, got) {
				t.Errorf("%s: Clone does not copy it", changed)
			}
			if b, _ := Marshal(before); !bytes.Equal(b, want) {
				t.Errorf("%s: changing the original changed a Clone taken before", changed)
			}
		}
		t.Logf("%s: %d fields checked", base.Kind(), count)
	}
}

// TestApprovalIgnoresCallerMutation: the engine's
// snapshot path (snapshot, then a grant over it, as decide builds) hands a
// signer exactly the approved bytes after the caller changes every leaf of
// its intent, nested SafeTx.Inner and Swap.Approval included.
func TestApprovalIgnoresCallerMutation(t *testing.T) {
	for _, base := range allIntents() {
		in := mutable(base)
		snap, err := snapshot(in)
		if err != nil {
			t.Fatal(err)
		}
		digest, err := Digest(snap)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Marshal(in)
		ap := Approval{g: &grant{id: "x", digest: digest, in: snap}}
		leaves(reflect.ValueOf(in), "", func(path string, leaf reflect.Value) { bump(path, leaf) })
		if now, _ := Marshal(in); bytes.Equal(now, want) {
			t.Fatal("the mutation did nothing")
		}
		peek := ap.Intent()
		leaves(reflect.ValueOf(mutable(peek)), "", func(path string, leaf reflect.Value) { bump(path, leaf) })
		got, err := ap.Claim()
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := Marshal(got)
		if !bytes.Equal(gb, want) {
			t.Fatalf("%s: the signer got\n%s\nthe engine approved\n%s", base.Kind(), gb, want)
		}
		if d, _ := Digest(got); d != digest || ap.Digest() == "" {
			t.Fatalf("%s: digest mismatch", base.Kind())
		}
	}
}
