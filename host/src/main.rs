fn main() -> anyhow::Result<()> {
    switchyard::cli::main()
}
