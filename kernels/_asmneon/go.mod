module github.com/qconv/qconv/kernels/_asmneon

go 1.26.0
