package quantize

import (
	"testing"

	"github.com/qconv/qconv/gguf"
)

// Every type in gguf's table either dequantizes or is listed, with a
// reason, as unsupported; never both.
func TestEveryTypeDequantizesOrIsUnsupported(t *testing.T) {
	for _, typ := range gguf.Types() {
		tr, ok := Lookup(typ)
		can := ok && tr.DequantizeRow != nil
		reason, listed := Unsupported(typ)
		switch {
		case can && listed:
			t.Errorf("%s: has DequantizeRow but is listed as unsupported (%s)", typ, reason)
		case !can && !listed:
			t.Errorf("%s (id %d): no DequantizeRow and not listed as unsupported", typ, uint32(typ))
		case listed && reason == "":
			t.Errorf("%s: listed as unsupported without a reason", typ)
		}
	}
	for typ := range unsupported {
		if !typ.Valid() {
			t.Errorf("unsupported list names %s, which gguf does not know", typ)
		}
	}
	if _, ok := Unsupported(gguf.TypeCount); ok {
		t.Error("Unsupported(TypeCount) = true")
	}
}
