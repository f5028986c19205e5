// SPDX-License-Identifier: MIT
/* include/shmring.hpp, the C++17 wrapper with Join's names: the calls of
 * Join's documentation (seeds/join-shared-memory.txt, join-memory.txt) work
 * as documented there, errors come through shmr::lastError(), and exceptions
 * only where Join throws. Built with g++ -std=c++17 -Wall -Wextra -Werror,
 * with both headers (the C one first, then the C++ one, and again). */
#include <shmring.h>
#include <shmring.hpp>
#include <shmring.h>

#include <criterion/criterion.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace
{
std::string testName(const char *tag)
{
	static std::atomic<unsigned> counter;

	return "shmring-t-cpp-" + std::string(tag) + "-" + std::to_string(getpid()) +
	       "-" + std::to_string(counter++);
}

struct Message {
	uint64_t id;
	char data[56];
};
} // namespace

Test(cpp, spsc_producer_and_consumer_as_join_documents_them)
{
	std::string name = testName("spsc");
	shmr::Spsc::Producer producer(name, sizeof(Message), 4);
	shmr::Spsc::Consumer consumer(name, sizeof(Message), 4);
	Message msg = { 42, "Hello" }, out = {};

	cr_assert_eq(producer.open(), 0, "%s", shmr::lastError().message().c_str());
	cr_assert_eq(consumer.open(), 0);
	cr_expect(producer.opened() && consumer.opened());
	cr_expect(consumer.empty());
	cr_expect_eq(producer.available(), 4u);

	/* Empty: tryPop fails with TemporaryError, timedPop with TimedOut. */
	cr_expect_eq(consumer.tryPop(&out), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TemporaryError);
	cr_expect(shmr::lastError() == std::errc::resource_unavailable_try_again);
	auto t0 = std::chrono::steady_clock::now();
	cr_expect_eq(consumer.timedPop(&out, std::chrono::milliseconds(20)), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TimedOut);
	cr_expect_geq(std::chrono::steady_clock::now() - t0, 20ms);

	cr_expect_eq(producer.tryPush(&msg), 0);
	cr_expect_eq(producer.push(&msg), 0);
	cr_expect_eq(producer.timedPush(&msg, std::chrono::milliseconds(100)), 0);
	cr_expect_eq(producer.push(&msg), 0);
	cr_expect(producer.full());
	cr_expect_eq(consumer.pending(), 4u);
	cr_expect_eq(producer.tryPush(&msg), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TemporaryError);
	cr_expect_eq(producer.timedPush(&msg, 1ms), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TimedOut);
	/* A zero (or negative) duration is a try that says TimedOut. */
	cr_expect_eq(producer.timedPush(&msg, -5s), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TimedOut);

	cr_expect_eq(consumer.pop(&out), 0);
	cr_expect_eq(out.id, 42u);
	cr_expect_str_eq(out.data, "Hello");
	cr_expect_eq(consumer.tryPop(&out), 0);
	cr_expect_eq(consumer.timedPop(&out, std::chrono::seconds(1)), 0);
	cr_expect_eq(consumer.pop(&out), 0);
	cr_expect(consumer.empty());
	producer.close();
	cr_expect_not(producer.opened());
	cr_expect_eq(shmr::SharedMemory::unlink(name), 0);
}

Test(cpp, errors_are_joins_names_through_last_error)
{
	std::string name = testName("err");
	shmr::Spsc::Producer first(name, 64, 8), second(name, 64, 8);
	shmr::Spsc::Consumer wrong(name, 32, 8);

	cr_assert_eq(first.open(), 0);
	/* A second SPSC producer: InUse (EBUSY). */
	cr_expect_eq(second.open(), -1);
	cr_expect(shmr::lastError() == shmr::Errc::InUse, "%s",
		  shmr::lastError().message().c_str());
	cr_expect(shmr::lastError() == std::errc::device_or_resource_busy);
	cr_expect_not(shmr::lastError() == shmr::Errc::InvalidParam);
	/* Parameters that differ from the ring's: InvalidParam. */
	cr_expect_eq(wrong.open(), -1);
	cr_expect(shmr::lastError() == shmr::Errc::InvalidParam);
	/* open() twice: InvalidParam, and the handle stays open. */
	cr_expect_eq(first.open(), -1);
	cr_expect(shmr::lastError() == shmr::Errc::InvalidParam);
	cr_expect(first.opened());
	/* lastError is per thread. */
	std::thread([] { cr_expect_not(shmr::lastError()); }).join();
	std::string msg = shmr::make_error_condition(shmr::Errc::InUse).message();
	cr_expect_str_eq(msg.c_str(), "already in use");
	first.close();
	cr_expect_eq(second.open(), 0, "a closed role is free again");
	shmr::SharedMemory::unlink(name);
}

Test(cpp, mpsc_and_mpmc_with_a_handle_per_thread)
{
	for (int mpmc = 0; mpmc < 2; mpmc++) {
		std::string name = testName("mp");
		constexpr int producers = 2, each = 2000;
		std::vector<std::thread> threads;
		std::atomic<int> received{ 0 };
		uint64_t sum = 0;

		auto produce = [&](int id) {
			auto run = [&](auto &p) {
				cr_assert_eq(p.open(), 0);
				for (uint64_t i = 1; i <= each; i++) {
					uint64_t v = (uint64_t)id << 32 | i;
					cr_assert_eq(p.push(&v), 0);
				}
			};
			if (mpmc) {
				shmr::Mpmc::Producer p(name, 8, 16);
				run(p);
			} else {
				shmr::Mpsc::Producer p(name, 8, 16);
				run(p);
			}
		};
		auto consume = [&](auto &c) {
			cr_assert_eq(c.open(), 0);
			while (received < producers * each) {
				uint64_t v;
				if (c.timedPop(&v, 10ms) == 0) {
					sum += v & 0xffffffff;
					received++;
				}
			}
		};
		for (int id = 0; id < producers; id++)
			threads.emplace_back(produce, id);
		if (mpmc) {
			shmr::Mpmc::Consumer c(name, 8, 16);
			consume(c);
		} else {
			shmr::Mpsc::Consumer c(name, 8, 16);
			consume(c);
		}
		for (auto &t : threads)
			t.join();
		cr_expect_eq(received.load(), producers * each);
		cr_expect_eq(sum, (uint64_t)producers * each * (each + 1) / 2);
		shmr::SharedMemory::unlink(name);
	}
}

Test(cpp, endpoints_send_and_receive_both_ways)
{
	std::string name = testName("ep");
	using Side = shmr::Spsc::Endpoint::Side;
	shmr::Spsc::Endpoint a(Side::A, name, 512, 128);
	shmr::Spsc::Endpoint b(Side::B, name, 512, 128);
	char buffer[512] = {};

	cr_assert_eq(a.open(), 0);
	cr_assert_eq(b.open(), 0);
	cr_expect(a.opened());
	std::strcpy(buffer, "ping");
	cr_expect_eq(a.send(buffer), 0);
	cr_expect_eq(b.pending(), 1u);
	cr_expect_eq(b.receive(buffer), 0);
	cr_expect_str_eq(buffer, "ping");
	std::strcpy(buffer, "pong");
	cr_expect_eq(b.trySend(buffer), 0);
	cr_expect_eq(a.timedReceive(buffer, 1s), 0);
	cr_expect_str_eq(buffer, "pong");
	cr_expect_eq(a.tryReceive(buffer), -1);
	cr_expect(shmr::lastError() == shmr::Errc::TemporaryError);
	cr_expect_eq(a.available(), 128u);
	cr_expect_geq(b.fd(), 0);
	/* Moving keeps the one handle. */
	shmr::Spsc::Endpoint moved = std::move(a);
	cr_expect_not(a.opened());
	cr_expect(moved.opened());
	cr_expect_eq(moved.timedSend(buffer, 0ms), 0);
	moved.close();
	b.close();
	cr_expect_eq(shmr::Spsc::Endpoint::unlink(name), 0);
	cr_expect_eq(shmr::SharedMemory::unlink(name + "_AB"), 0,
		     "already gone: still 0");
}

Test(cpp, local_memory_as_join_documents_it)
{
	shmr::LocalMem mem(4096);
	char *p = static_cast<char *>(mem.get());

	cr_assert_not_null(p);
	cr_expect_geq(mem.size(), 4096u);
	cr_expect_eq(static_cast<char *>(mem.get(64)), p + 64);
	const shmr::LocalMem &cmem = mem;
	cr_expect_eq(static_cast<const char *>(cmem.get(0)), p);
	cr_expect_eq(mem.mlock(), 0, "%s", shmr::lastError().message().c_str());

	bool threw = false;
	try {
		mem.get(mem.size());
	} catch (const std::out_of_range &) {
		threw = true;
	}
	cr_expect(threw, "get past the end throws std::out_of_range");

	shmr::LocalMem b = std::move(mem);
	cr_expect_eq(static_cast<char *>(b.get()), p);
	threw = false;
	try {
		mem.get();
	} catch (const std::runtime_error &) {
		threw = true;
	}
	cr_expect(threw, "get on a moved-from segment throws std::runtime_error");

	threw = false;
	try {
		shmr::LocalMem zero(0);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::invalid_argument;
	}
	cr_expect(threw, "a failed mapping throws std::system_error");
}

Test(cpp, rings_in_a_local_segment_for_threads)
{
	shmr::LocalMem mem(shmr::Spsc::memsize(8, 100));
	shmr::LocalMem::Spsc::Producer producer(mem, 0, 8, 100);
	shmr::LocalMem::Spsc::Consumer consumer(mem, 0, 8, 100);

	cr_assert_eq(producer.open(), 0, "%s", shmr::lastError().message().c_str());
	cr_assert_eq(consumer.open(), 0);
	std::thread t([&] {
		for (uint64_t i = 0; i < 10000; i++)
			cr_assert_eq(producer.push(&i), 0);
	});
	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t v;
		cr_assert_eq(consumer.pop(&v), 0);
		cr_assert_eq(v, i);
	}
	t.join();
	cr_expect_eq(shmr::Mpmc::memsize(0, 1), 0u);
	cr_expect(shmr::lastError() == shmr::Errc::InvalidParam);
}

Test(cpp, shared_memory_as_join_documents_it)
{
	std::string name = "/" + testName("shm");

	{
		shmr::ShmMem mem(4096, name);
		static_cast<char *>(mem.get())[10] = 'x';
		shmr::ShmMem again(4096, name);
		cr_expect_eq(static_cast<char *>(again.get())[10], 'x');
		bool threw = false;
		try {
			shmr::ShmMem wrong(8192, name);
		} catch (const std::system_error &e) {
			threw = e.code() == std::errc::invalid_argument;
		}
		cr_expect(threw, "a size that differs throws std::system_error(EINVAL)");
		/* Rings in a shared segment: ShmMem::Mpmc. */
		shmr::ShmMem::Mpmc::Producer p(mem, 0, 8, 4);
		shmr::ShmMem::Mpmc::Consumer c(again, 0, 8, 4);
		cr_expect_eq(p.open(), -1,
			     "a 4 KiB segment holds no ring with its header");
		cr_expect(shmr::lastError() == shmr::Errc::InvalidParam);
	}
	cr_expect_eq(shmr::ShmMem::unlink(name), 0);
	cr_expect_eq(shmr::ShmMem::unlink(name), 0,
		     "a missing segment: succeeds silently");
	bool threw = false;
	try {
		shmr::ShmMem bad(4096, "a/b");
	} catch (const std::system_error &) {
		threw = true;
	}
	cr_expect(threw);
}

Test(cpp, version_is_the_libraries)
{
	std::string v = shmr::version();
	cr_expect_str_eq(v.c_str(), shmring_version());
	cr_expect_eq(SHMRING_DEFAULT_SPIN_NS, 20000L);
}
