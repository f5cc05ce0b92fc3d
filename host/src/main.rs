/// mimalloc instead of glibc's malloc: in a profile under load, glibc's
/// allocator (malloc, free, consolidation) took about 13% of the server's
/// CPU; BENCHMARKS.md has the load figures before and after.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    switchyard::cli::main()
}
