//go:build !purego

package kernels

import "github.com/qconv/qconv/gguf"

// registerKQuantsAVX2 sets the AVX2 kernels of the K-quant family
// (Q2_K..Q6_K, IQ4_XS, TQ1_0, TQ2_0) in the AVX2 row of the table.
func registerKQuantsAVX2(t *[gguf.TypeCount]kernel) {
	for typ, fns := range map[gguf.Type][tileRows]kqFunc{
		gguf.TypeQ4_K:   {q4_Kavx2R1, q4_Kavx2R2, q4_Kavx2R3, q4_Kavx2R4},
		gguf.TypeQ5_K:   {q5_Kavx2R1, q5_Kavx2R2, q5_Kavx2R3, q5_Kavx2R4},
		gguf.TypeQ6_K:   {q6_Kavx2R1, q6_Kavx2R2, q6_Kavx2R3, q6_Kavx2R4},
		gguf.TypeQ2_K:   {q2_Kavx2R1, q2_Kavx2R2, q2_Kavx2R3, q2_Kavx2R4},
		gguf.TypeQ3_K:   {q3_Kavx2R1, q3_Kavx2R2, q3_Kavx2R3, q3_Kavx2R4},
		gguf.TypeTQ2_0:  {tq2_0avx2R1, tq2_0avx2R2, tq2_0avx2R3, tq2_0avx2R4},
		gguf.TypeIQ4_XS: {iq4_xsavx2R1, iq4_xsavx2R2, iq4_xsavx2R3, iq4_xsavx2R4},
		gguf.TypeTQ1_0:  {tq1_0avx2R1, tq1_0avx2R2, tq1_0avx2R3, tq1_0avx2R4},
	} {
		t[typ].quant = asmQ8_KAct(typ.BlockBytes(), fns)
		// The task form sets up the activation rows once per task
		// rather than once per weight row.
		rowKernels[TierAVX2][typ] = (&kqTask{bb: typ.BlockBytes(), fns: fns}).rows
	}
}

// registerKQuantsAVX512 sets their AVX-512 (VNNI) kernels, and the
// whole-task kernels of the types that have one.
func registerKQuantsAVX512(t *[gguf.TypeCount]kernel) {
	for typ, fns := range map[gguf.Type][tileRows]kqFunc{
		gguf.TypeQ4_K:   {q4_KvnniR1, q4_KvnniR2, q4_KvnniR3, q4_KvnniR4},
		gguf.TypeQ5_K:   {q5_KvnniR1, q5_KvnniR2, q5_KvnniR3, q5_KvnniR4},
		gguf.TypeQ6_K:   {q6_KvnniR1, q6_KvnniR2, q6_KvnniR3, q6_KvnniR4},
		gguf.TypeQ2_K:   {q2_KvnniR1, q2_KvnniR2, q2_KvnniR3, q2_KvnniR4},
		gguf.TypeQ3_K:   {q3_KvnniR1, q3_KvnniR2, q3_KvnniR3, q3_KvnniR4},
		gguf.TypeTQ2_0:  {tq2_0vnniR1, tq2_0vnniR2, tq2_0vnniR3, tq2_0vnniR4},
		gguf.TypeIQ4_XS: {iq4_xsvnniR1, iq4_xsvnniR2, iq4_xsvnniR3, iq4_xsvnniR4},
		gguf.TypeTQ1_0:  {tq1_0vnniR1, tq1_0vnniR2, tq1_0vnniR3, tq1_0vnniR4},
	} {
		t[typ].quant = asmQ8_KAct(typ.BlockBytes(), fns)
	}
	for _, k := range []struct {
		typ gguf.Type
		t1  kqTaskFunc
		fns [tileRows]kqFunc
	}{
		{gguf.TypeQ4_K, q4_KvnniT4, [tileRows]kqFunc{q4_KvnniR1, q4_KvnniR2, q4_KvnniR3, q4_KvnniR4}},
		{gguf.TypeQ6_K, q6_KvnniT4, [tileRows]kqFunc{q6_KvnniR1, q6_KvnniR2, q6_KvnniR3, q6_KvnniR4}},
		{gguf.TypeQ5_K, q5_KvnniT4, [tileRows]kqFunc{q5_KvnniR1, q5_KvnniR2, q5_KvnniR3, q5_KvnniR4}},
		{gguf.TypeQ3_K, q3_KvnniT4, [tileRows]kqFunc{q3_KvnniR1, q3_KvnniR2, q3_KvnniR3, q3_KvnniR4}},
		{gguf.TypeQ2_K, q2_KvnniT4, [tileRows]kqFunc{q2_KvnniR1, q2_KvnniR2, q2_KvnniR3, q2_KvnniR4}},
		{gguf.TypeIQ4_XS, iq4_xsvnniT4, [tileRows]kqFunc{iq4_xsvnniR1, iq4_xsvnniR2, iq4_xsvnniR3, iq4_xsvnniR4}},
		{gguf.TypeTQ2_0, tq2_0vnniT4, [tileRows]kqFunc{tq2_0vnniR1, tq2_0vnniR2, tq2_0vnniR3, tq2_0vnniR4}},
		{gguf.TypeTQ1_0, tq1_0vnniT4, [tileRows]kqFunc{tq1_0vnniR1, tq1_0vnniR2, tq1_0vnniR3, tq1_0vnniR4}},
	} {
		rowKernels[TierAVX512][k.typ] = (&kqTask{bb: k.typ.BlockBytes(), pass: 4, t1: k.t1, fns: k.fns}).rows
	}
}
