# redsink.bash — bash completion for redsink-ctl, redsink-stats, redsink-warnd
# and redsink-mkgeo (issue 11: one interface). Installed to
# $(datadir)/bash-completion/completions/ under each tool's name.
#
# Commands and options are read from the tools' own --help, so a command or
# an option added to a tool is completed without editing this file:
# "  WORD ..." lines of the main help are commands ("order add|show ..." gives
# subcommands), and every "--option" a help text mentions is an option.
# Option values that are files (--auth-file, -o, --html, ...) complete as
# file names; other arguments as file names too (name lists, CSV plans).

_redsink_commands()
{
	# $1 tool; prints its command words
	"$1" --help 2>/dev/null | sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p' | sort -u
}

_redsink_subcommands()
{
	# $1 tool, $2 command; prints the words after "  CMD " that are subcommands
	"$1" --help 2>/dev/null | sed -n "s/^  $2 \\([a-z][a-z|-]*\\)\\( .*\\)\\{0,1\\}\$/\\1/p" | tr '|' '\n' | sort -u
}

_redsink_options()
{
	# $1 tool, then the command words; prints every --option of that help,
	# and for a command also the tool's common options (--sign-key, --redis,
	# ...: accepted before or after the command), read from the "Common
	# options" section of the main help
	{
		"$@" --help 2>/dev/null
		(($# > 1)) && "$1" --help 2>/dev/null | sed -n '/^Common options/,/^$/p'
	} | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

_redsink_complete()
{
	local prog=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local -a words=()
	local i w cmds subs

	COMPREPLY=()
	case $prev in
	--auth-file|--password-file|--redis-password-file|-o|--output|--html|--templates|-T|--geoip|-g|--pidfile|-p|\
	--sign-key|--trusted|--from-export|--out|--file|--psl-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	--redis|--write-redis|-r|-w)
		COMPREPLY=($(compgen -W "127.0.0.1:6379 redis:// unix:/" -- "$cur"))
		return 0
		;;
	esac

	# the command words typed so far (options and their values skipped)
	if [[ $prog != redsink-warnd && $prog != redsink-mkgeo ]]; then
		cmds=$(_redsink_commands "$prog")
		for ((i = 1; i < COMP_CWORD; i++)); do
			w=${COMP_WORDS[i]}
			[[ $w == -* ]] && continue
			case ${COMP_WORDS[i-1]} in
			--redis|--prefix|--user|--auth-file|--db|--timeout|--by|--password-file|--sign-key|--trusted) continue ;;
			esac
			if ((${#words[@]} == 0)) && grep -qx -- "$w" <<<"$cmds"; then
				words+=("$w")
			elif ((${#words[@]} == 1)); then
				subs=$(_redsink_subcommands "$prog" "${words[0]}")
				grep -qx -- "$w" <<<"$subs" && words+=("$w")
				break
			fi
		done
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_redsink_options "$prog" "${words[@]}")" -- "$cur"))
		return 0
	fi
	if [[ $prog != redsink-warnd && $prog != redsink-mkgeo ]]; then
		if ((${#words[@]} == 0)); then
			COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
			return 0
		fi
		if ((${#words[@]} == 1)); then
			subs=$(_redsink_subcommands "$prog" "${words[0]}")
			if [[ -n $subs ]]; then
				COMPREPLY=($(compgen -W "$subs" -- "$cur"))
				return 0
			fi
		fi
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
	return 0
}

complete -F _redsink_complete redsink-ctl redsink-stats redsink-warnd redsink-mkgeo
